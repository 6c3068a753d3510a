//! The transport request and its rules, free of HTTP: field newtypes that validate on `parse`, the
//! states, and who may move a request from one state to another.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

/// What the domain refuses, in its own words; `routes` maps each to the envelope (status and text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field breaks its rule.
    #[error("{field}: {rule:?}")]
    Invalid { field: &'static str, rule: Rule },
    /// The actor may not make this change.
    #[error("not allowed")]
    NotAllowed,
    /// Only a pending request changes state; this one is already decided.
    #[error("already {0:?}")]
    NotPending(Estado),
}

/// The rule a field breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Characters once trimmed, inclusive.
    Length { min: usize, max: usize },
    /// An integer in this inclusive range.
    Range { min: i64, max: i64 },
    /// Not an RFC 3339 date-time.
    NotRfc3339,
    /// After the last year a date may be in.
    AfterYear(i32),
    /// Before now, less the slack.
    InThePast,
    /// A state a client may not set.
    NotSettable,
}

fn invalid(field: &'static str, rule: Rule) -> Refusal {
    Refusal::Invalid { field, rule }
}

/// A string with a character `trim` keeps and at most `max` characters: what a field
/// that is trimmed and then must be 1 to `max` characters long accepts (longer strings whose trimmed
/// form fits are accepted too, but not promised).
fn trimmed_text_schema(max: usize, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .description(Some(description))
        .build()
}

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
    /// The states a client may ask for (`PATCH /solicitud/{id}/estado`); `pendiente` is only where
    /// a request starts.
    pub const SETTABLE: [Estado; 3] = [Estado::Aprobada, Estado::Rechazada, Estado::Cancelada];

    /// The schema of a requested state: one of [`Estado::SETTABLE`].
    pub fn settable_schema() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::SETTABLE.iter().map(|e| e.as_str())))
            .description(Some(
                "`aprobada` or `rechazada` (an admin), `cancelada` (the owner)",
            ))
            .build()
    }

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
    /// The most characters of a place, once trimmed.
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Refusal> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(1..=Self::MAX_CHARS).contains(&len) {
            return Err(invalid(
                field,
                Rule::Length {
                    min: 1,
                    max: Self::MAX_CHARS,
                },
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The schema of a place.
    pub fn schema() -> Object {
        trimmed_text_schema(Self::MAX_CHARS, "A place: 1 to 200 characters once trimmed")
    }
}

/// Passengers: 1 to 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pasajeros(u8);

impl Pasajeros {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 50;

    pub fn parse(raw: i64) -> Result<Self, Refusal> {
        match u8::try_from(raw) {
            Ok(n) if (Self::MIN..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(invalid(
                "pasajeros",
                Rule::Range {
                    min: Self::MIN.into(),
                    max: Self::MAX.into(),
                },
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// Reads the JSON number of a passenger count as `parse` takes it. JSON (and JSON Schema's
    /// `integer`) does not tell `7` from `7.0`, so a float without a fraction is that integer; one
    /// past the `i64` range saturates (and `parse` refuses it); a fraction is a type error.
    pub fn deserialize_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match serde_json::Number::deserialize(d)? {
            n if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
            n if n.is_u64() => Ok(i64::MAX),
            n => match n.as_f64() {
                // `as` saturates at the i64 bounds, which `parse` then refuses.
                Some(f) if f.fract() == 0.0 => Ok(f as i64),
                _ => Err(serde::de::Error::custom(format!(
                    "invalid type: floating point `{n}`, expected an integer"
                ))),
            },
        }
    }

    /// The schema of a passenger count.
    pub fn schema() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(Self::MIN))
            .maximum(Some(Self::MAX))
            .build()
    }
}

/// Why the trip is needed: 1 to 500 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motivo(String);

impl Motivo {
    /// The most characters of a reason, once trimmed.
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(1..=Self::MAX_CHARS).contains(&len) {
            return Err(invalid(
                "motivo",
                Rule::Length {
                    min: 1,
                    max: Self::MAX_CHARS,
                },
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The schema of a reason.
    pub fn schema() -> Object {
        trimmed_text_schema(
            Self::MAX_CHARS,
            "Why the trip is needed: 1 to 500 characters once trimmed",
        )
    }
}

/// When the service is wanted: RFC 3339, not in the past (a few minutes of slack for clocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FechaServicio(OffsetDateTime);

/// How far in the past a service date may be and still be accepted.
pub const PAST_SLACK_SECS: i64 = 300;

impl FechaServicio {
    /// The last year a service date may be in.
    pub const MAX_YEAR: i32 = 2999;

    pub fn parse(raw: &str, now_ms: i64) -> Result<Self, Refusal> {
        let parsed = OffsetDateTime::parse(raw.trim(), &Rfc3339)
            .map_err(|_| invalid("fechaServicio", Rule::NotRfc3339))?;
        // Also keeps `to_rfc3339` from overflowing: 9999-12-31T23:59:59-05:00 is past year 9999 in UTC.
        if parsed.year() > Self::MAX_YEAR || parsed.checked_to_offset(time::UtcOffset::UTC).is_none() {
            return Err(invalid("fechaServicio", Rule::AfterYear(Self::MAX_YEAR)));
        }
        if parsed.unix_timestamp() < now_ms.div_euclid(1000) - PAST_SLACK_SECS {
            return Err(invalid("fechaServicio", Rule::InThePast));
        }
        Ok(Self(parsed))
    }

    /// The schema of a service date. The rules that depend on the date's value (not before now less
    /// [`PAST_SLACK_SECS`], before the year [`FechaServicio::MAX_YEAR`] + 1) are in its description:
    /// a JSON Schema cannot say "not in the past".
    pub fn schema() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(format!(
                "RFC 3339 date-time, not more than {PAST_SLACK_SECS} s in the past and before the year {} \
                 (else 422 VALIDATION_ERROR naming `fechaServicio`)",
                Self::MAX_YEAR + 1
            )))
            .build()
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
) -> Result<(), Refusal> {
    match to {
        Estado::Pendiente => return Err(invalid("estado", Rule::NotSettable)),
        Estado::Aprobada | Estado::Rechazada if !is_admin => return Err(Refusal::NotAllowed),
        Estado::Cancelada if solicitud.solicitante != actor => return Err(Refusal::NotAllowed),
        _ => {}
    }
    if solicitud.estado != Estado::Pendiente {
        return Err(Refusal::NotPending(solicitud.estado));
    }
    Ok(())
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

    fn codigo(r: Result<(), Refusal>) -> &'static str {
        match r {
            Ok(()) => "OK",
            Err(Refusal::Invalid { .. }) => "INVALID",
            Err(Refusal::NotAllowed) => "NOT_ALLOWED",
            Err(Refusal::NotPending(_)) => "NOT_PENDING",
        }
    }

    #[derive(Debug, Deserialize)]
    struct Count {
        #[serde(deserialize_with = "Pasajeros::deserialize_number")]
        n: i64,
    }

    fn count(json: &str) -> Option<i64> {
        serde_json::from_str::<Count>(json).ok().map(|c| c.n)
    }

    #[test]
    fn a_passenger_count_is_any_integral_json_number() {
        assert_eq!(count(r#"{"n": 7}"#), Some(7));
        assert_eq!(count(r#"{"n": 7.0}"#), Some(7));
        assert_eq!(count(r#"{"n": -3}"#), Some(-3));
        assert_eq!(count(r#"{"n": 7.5}"#), None);
        assert_eq!(count(r#"{"n": "7"}"#), None);
        // Out of range for i64: saturates, so `parse` refuses it with its own message.
        assert_eq!(count(r#"{"n": 18446744073709551615}"#), Some(i64::MAX));
        assert_eq!(count(r#"{"n": 1e300}"#), Some(i64::MAX));
        assert!(Pasajeros::parse(i64::MAX).is_err());
    }

    #[test]
    fn fields_are_validated_by_name() {
        assert!(Lugar::parse("origen", " Bogotá ").is_ok());
        assert!(
            matches!(Lugar::parse("origen", "  "), Err(Refusal::Invalid { field, .. }) if field == "origen")
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
            "NOT_ALLOWED"
        );
        assert_eq!(
            codigo(check_transition(&pending, "maria", false, Estado::Cancelada)),
            "OK"
        );
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Cancelada)),
            "NOT_ALLOWED"
        );
        assert_eq!(
            codigo(check_transition(&pending, "admin", true, Estado::Pendiente)),
            "INVALID"
        );
        let approved = solicitud("maria", Estado::Aprobada);
        assert_eq!(
            codigo(check_transition(&approved, "admin", true, Estado::Aprobada)),
            "NOT_PENDING"
        );
        assert_eq!(
            codigo(check_transition(&approved, "maria", false, Estado::Cancelada)),
            "NOT_PENDING"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_500), "1970-01-01T00:00:01.5Z");
    }
}
