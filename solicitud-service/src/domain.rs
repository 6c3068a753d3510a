//! The transport request and its rules, free of HTTP: field newtypes that validate on `parse`, the
//! states, and who may move a request from one state to another.

use serde::{Deserialize, Serialize};
use shared::ApiError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where a request stands. Only a `pendiente` one can change, and only once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Estado {
    Pendiente,
    Aprobada,
    Rechazada,
    Cancelada,
}

impl Estado {
    pub fn as_str(self) -> &'static str {
        match self {
            Estado::Pendiente => "pendiente",
            Estado::Aprobada => "aprobada",
            Estado::Rechazada => "rechazada",
            Estado::Cancelada => "cancelada",
        }
    }
}

/// A transport request as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Solicitud {
    pub id: u64,
    /// The username of whoever asked.
    pub solicitante: String,
    pub origen: String,
    pub destino: String,
    /// RFC 3339, UTC.
    pub fecha_servicio: String,
    pub pasajeros: u8,
    pub motivo: String,
    pub estado: Estado,
    pub creada_en: String,
    pub actualizada_en: String,
}

/// A place: 1 to 200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lugar(String);

impl Lugar {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(1..=200).contains(&len) {
            return Err(ApiError::validation(
                field,
                format!("El campo '{field}' debe tener entre 1 y 200 caracteres."),
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Passengers: 1 to 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pasajeros(u8);

impl Pasajeros {
    pub fn parse(raw: i64) -> Result<Self, ApiError> {
        match u8::try_from(raw) {
            Ok(n @ 1..=50) => Ok(Self(n)),
            _ => Err(ApiError::validation(
                "pasajeros",
                "El campo 'pasajeros' debe ser un entero entre 1 y 50.",
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Why the trip is needed: 1 to 500 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motivo(String);

impl Motivo {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(1..=500).contains(&len) {
            return Err(ApiError::validation(
                "motivo",
                "El campo 'motivo' debe tener entre 1 y 500 caracteres.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// When the service is wanted: RFC 3339, not in the past (a few minutes of slack for clocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FechaServicio(OffsetDateTime);

/// How far in the past a service date may be and still be accepted.
pub const PAST_SLACK_SECS: i64 = 300;

impl FechaServicio {
    pub fn parse(raw: &str, now_ms: i64) -> Result<Self, ApiError> {
        let parsed = OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
            ApiError::validation(
                "fechaServicio",
                "El campo 'fechaServicio' debe ser una fecha RFC 3339, por ejemplo 2026-12-01T08:30:00-05:00.",
            )
        })?;
        // Also keeps `to_rfc3339` from overflowing: 9999-12-31T23:59:59-05:00 is past year 9999 in UTC.
        if parsed.year() > 2999 || parsed.checked_to_offset(time::UtcOffset::UTC).is_none() {
            return Err(ApiError::validation(
                "fechaServicio",
                "El campo 'fechaServicio' debe ser una fecha anterior al año 3000.",
            ));
        }
        if parsed.unix_timestamp() < now_ms.div_euclid(1000) - PAST_SLACK_SECS {
            return Err(ApiError::validation(
                "fechaServicio",
                "El campo 'fechaServicio' no puede estar en el pasado.",
            ));
        }
        Ok(Self(parsed))
    }

    /// In UTC, RFC 3339.
    pub fn to_rfc3339(self) -> String {
        rfc3339(self.0.to_offset(time::UtcOffset::UTC))
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// A timestamp in ms as RFC 3339 UTC, for `creadaEn` and `actualizadaEn`.
pub fn timestamp(now_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_else(|_| now_ms.to_string())
}

/// Whether `actor` may move `solicitud` to `to`. Admins approve or reject; the owner cancels their own.
/// Permission is checked before state, so a usuario learns nothing about a request's state by trying.
pub fn check_transition(
    solicitud: &Solicitud,
    actor: &str,
    is_admin: bool,
    to: Estado,
) -> Result<(), ApiError> {
    match to {
        Estado::Pendiente => {
            return Err(ApiError::validation(
                "estado",
                "El campo 'estado' debe ser aprobada, rechazada o cancelada.",
            ))
        }
        Estado::Aprobada | Estado::Rechazada if !is_admin => return Err(ApiError::Forbidden),
        Estado::Cancelada if solicitud.solicitante != actor => return Err(ApiError::Forbidden),
        _ => {}
    }
    if solicitud.estado != Estado::Pendiente {
        return Err(not_pending(solicitud.estado));
    }
    Ok(())
}

/// The 409 for a request that has already been decided.
pub fn not_pending(estado: Estado) -> ApiError {
    ApiError::Conflict(format!(
        "La solicitud ya está {}: solo una solicitud pendiente puede cambiar de estado.",
        estado.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solicitud(owner: &str, estado: Estado) -> Solicitud {
        Solicitud {
            id: 1,
            solicitante: owner.into(),
            origen: "A".into(),
            destino: "B".into(),
            fecha_servicio: "2030-01-01T00:00:00Z".into(),
            pasajeros: 2,
            motivo: "m".into(),
            estado,
            creada_en: "x".into(),
            actualizada_en: "x".into(),
        }
    }

    fn codigo(r: Result<(), ApiError>) -> &'static str {
        r.err().map_or("OK", |e| e.catalogue().2)
    }

    #[test]
    fn fields_are_validated_by_name() {
        assert!(Lugar::parse("origen", " Bogotá ").is_ok());
        assert!(
            matches!(Lugar::parse("origen", "  "), Err(ApiError::Validation { field, .. }) if field == "origen")
        );
        assert!(Lugar::parse("destino", &"x".repeat(201)).is_err());
        assert!(Pasajeros::parse(1).is_ok() && Pasajeros::parse(50).is_ok());
        assert!(
            Pasajeros::parse(0).is_err() && Pasajeros::parse(51).is_err() && Pasajeros::parse(-3).is_err()
        );
        assert!(Motivo::parse(&"é".repeat(500)).is_ok());
        assert!(Motivo::parse(&"é".repeat(501)).is_err());
        assert!(Motivo::parse("").is_err());
    }

    #[test]
    fn service_dates_are_rfc3339_and_not_in_the_past() {
        let now = 1_800_000_000_000; // 2027-01-15
        assert_eq!(
            FechaServicio::parse("2030-03-01T08:30:00-05:00", now)
                .map(FechaServicio::to_rfc3339)
                .ok(),
            Some("2030-03-01T13:30:00Z".to_string())
        );
        assert!(FechaServicio::parse("2030-03-01", now).is_err());
        assert!(FechaServicio::parse("mañana", now).is_err());
        assert!(FechaServicio::parse("2020-01-01T00:00:00Z", now).is_err());
        assert!(
            FechaServicio::parse("9999-12-31T23:59:59-05:00", now).is_err(),
            "no overflow panic"
        );
        assert!(FechaServicio::parse("3000-01-01T00:00:00Z", now).is_err());
    }

    #[test]
    fn only_admins_decide_and_only_owners_cancel_and_only_pending_ones() {
        let pending = solicitud("maria", Estado::Pendiente);
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Aprobada)),
            "OK"
        );
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Rechazada)),
            "OK"
        );
        assert_eq!(
            codigo(check_transition(&pending, "maria", false, Estado::Aprobada)),
            "FORBIDDEN"
        );
        assert_eq!(
            codigo(check_transition(&pending, "maria", false, Estado::Cancelada)),
            "OK"
        );
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Cancelada)),
            "FORBIDDEN"
        );
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Pendiente)),
            "VALIDATION_ERROR"
        );
        let approved = solicitud("maria", Estado::Aprobada);
        assert_eq!(
            codigo(check_transition(&approved, "admin", true, Estado::Aprobada)),
            "CONFLICT"
        );
        assert_eq!(
            codigo(check_transition(&approved, "maria", false, Estado::Cancelada)),
            "CONFLICT"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_500), "1970-01-01T00:00:01.5Z");
    }
}
