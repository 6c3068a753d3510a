// The account page's script (GET /cuenta/app.js), built only on the public API:
//   POST /auth/login, /auth/mfa/verify, /auth/refresh, /auth/mfa/setup, /auth/mfa/activate,
//   /auth/mfa/disable, /auth/password, /auth/logout, /auth/logout-all, GET /auth/me and /auth/mfa,
//   and the passkeys': /auth/passkeys/login/options, /auth/passkeys/login, /auth/passkeys/register/options,
//   /auth/passkeys/register, GET /auth/passkeys, PATCH and DELETE /auth/passkeys/{id}. Passkey ceremonies
//   run in the browser (navigator.credentials) with the options the API gives, in their JSON forms.
// The tokens live in this closure and nowhere else: never in Web Storage or a cookie, so
// a reload or a closed tab ends the page's hold on them. Everything shown comes from the API through
// textContent (never as HTML), and the page's CSP requires Trusted Types, so no string can become markup
// or script. Errors show the API's `mensaje` and `detalle`; a 429 shows the wait from `Retry-After`.
'use strict';

(() => {
  /** The page's session: { access, refresh } while logged in, else null. */
  let session = null;
  /** The login's MFA challenge token between the two steps. */
  let mfaToken = null;
  /** Whether this browser can run passkey ceremonies from the JSON forms (WebAuthn Level 3). */
  const passkeysHere = Boolean(window.PublicKeyCredential
    && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function');
  /** Whether the service registers passkeys (GET /auth/mfa). */
  let passkeyEnrolment = false;
  /** The passkey whose removal waits for the password. */
  let removing = null;
  /** Whether this user's second factor is on (a login that asked for it says so; enrolment changes it). */
  let mfaActive = false;
  /** The one refresh in flight, shared by calls that find the access token expired at once. */
  let refreshing = null;
  /** The countdown shown for a 429: { timer, button } (the button waits with it). */
  let countdown = null;

  const $ = (id) => {
    const element = document.getElementById(id);
    if (!element) {
      throw new Error('falta el elemento #' + id);
    }
    return element;
  };

  // ---------------------------------------------------------------------------------------------
  // Messages

  /** Shows a message: `kind` is 'error' or 'exito'. */
  function notify(kind, mensaje, detalle) {
    stopCountdown();
    const box = $('aviso');
    box.classList.remove('error', 'exito');
    box.classList.add(kind);
    $('aviso-mensaje').textContent = mensaje;
    $('aviso-detalle').textContent = detalle || '';
    box.hidden = false;
  }

  function clearNotice() {
    stopCountdown();
    $('aviso').hidden = true;
    $('aviso-mensaje').textContent = '';
    $('aviso-detalle').textContent = '';
  }

  /** Ends the 429 countdown, if any, and gives its button back. */
  function stopCountdown() {
    if (countdown !== null) {
      clearInterval(countdown.timer);
      if (countdown.button) {
        countdown.button.disabled = false;
      }
      countdown = null;
    }
  }

  /** "1 minuto y 5 segundos", "40 segundos". */
  function describeWait(seconds) {
    const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
    const minutes = Math.floor(seconds / 60);
    const rest = seconds % 60;
    if (minutes === 0) {
      return plural(rest, 'segundo', 'segundos');
    }
    return rest === 0
      ? plural(minutes, 'minuto', 'minutos')
      : plural(minutes, 'minuto', 'minutos') + ' y ' + plural(rest, 'segundo', 'segundos');
  }

  /** The API's error in the message box; for a 429, the wait counts down and `button` waits with it. */
  function showError(error, button) {
    notify('error', error.mensaje, error.detalle);
    if (error.status !== 429) {
      return;
    }
    const detalle = $('aviso-detalle');
    const base = error.detalle ? error.detalle + ' ' : '';
    if (!(error.retryAfter > 0)) {
      detalle.textContent = base + 'Espere un momento antes de intentarlo de nuevo.';
      return;
    }
    const until = Date.now() + error.retryAfter * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left > 0) {
        detalle.textContent = base + 'Espere ' + describeWait(left) + ' antes de intentarlo de nuevo.';
      } else {
        detalle.textContent = base + 'Ya puede intentarlo de nuevo.';
        stopCountdown();
      }
    };
    if (button) {
      button.disabled = true;
    }
    countdown = { timer: setInterval(tick, 1000), button };
    tick();
  }

  // ---------------------------------------------------------------------------------------------
  // The API

  /** An error answer of the API (or no answer at all), with what the page shows of it. */
  class ApiFailure extends Error {
    constructor(status, body, retryAfter) {
      const mensaje = (body && typeof body.mensaje === 'string' && body.mensaje)
        || (status ? 'Error ' + status : 'No se pudo contactar con el servicio');
      super(mensaje);
      this.status = status;
      this.mensaje = mensaje;
      this.detalle = (body && typeof body.detalle === 'string') ? body.detalle
        : (status ? '' : 'Compruebe la conexión e intente de nuevo.');
      this.codigo = (body && typeof body.codigo === 'string') ? body.codigo : '';
      this.retryAfter = retryAfter;
    }
  }

  /** `Retry-After` in whole seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); 0 if absent. */
  function retryAfterSeconds(value) {
    if (!value) {
      return 0;
    }
    if (/^\d+$/.test(value.trim())) {
      return parseInt(value.trim(), 10);
    }
    const at = Date.parse(value);
    return Number.isNaN(at) ? 0 : Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }

  /** One request to the API; its `datos` when `exito`, else an ApiFailure. */
  async function call(method, path, body, bearer) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    if (bearer) {
      headers.Authorization = 'Bearer ' + bearer;
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
    } catch (_) {
      throw new ApiFailure(0, null, 0);
    }
    let envelope = null;
    try {
      envelope = await response.json();
    } catch (_) {
      envelope = null;
    }
    if (response.ok && envelope && envelope.exito === true) {
      return envelope.datos;
    }
    throw new ApiFailure(response.status, envelope, retryAfterSeconds(response.headers.get('Retry-After')));
  }

  /** Rotates the pair once, however many calls found the access token expired. */
  function refreshSession() {
    if (!refreshing) {
      const presented = session.refresh;
      refreshing = call('POST', '/auth/refresh', { refreshToken: presented })
        .then((datos) => {
          if (session && session.refresh === presented) {
            session = { access: datos.accessToken, refresh: datos.refreshToken };
          }
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  /**
   * A call with the access token: an expired one is refreshed once and the call repeated. A 401 that
   * remains means the session is over (revoked, logged out elsewhere): the page goes back to the login.
   */
  async function authed(method, path, body) {
    if (!session) {
      throw new ApiFailure(401, { mensaje: 'Sesión terminada', detalle: 'Vuelva a iniciar sesión.' }, 0);
    }
    try {
      try {
        return await call(method, path, body, session.access);
      } catch (error) {
        if (error.status === 401 && error.codigo === 'TOKEN_EXPIRED' && session) {
          await refreshSession();
          if (!session) {
            throw error;
          }
          return await call(method, path, body, session.access);
        }
        throw error;
      }
    } catch (error) {
      if (error.status === 401) {
        endSession();
      }
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Views

  function show(view) {
    $('paso-login').hidden = view !== 'login';
    $('paso-mfa').hidden = view !== 'mfa';
    $('cuenta').hidden = view !== 'cuenta';
  }

  // ---------------------------------------------------------------------------------------------
  // Passkeys

  /** A browser ceremony's failure as the page shows it (cancelled, no passkey, not allowed here). */
  function ceremonyFailure(error) {
    const cancelled = error && (error.name === 'NotAllowedError' || error.name === 'AbortError');
    return new ApiFailure(0, {
      mensaje: cancelled ? 'No se usó ninguna llave de acceso' : 'La llave de acceso no funcionó',
      detalle: cancelled
        ? 'Se canceló, caducó o este dispositivo no tiene una llave de acceso para esta cuenta.'
        : String((error && error.message) || error),
    }, 0);
  }

  /** Runs `navigator.credentials.get` with request options in their JSON form; the assertion as JSON. */
  async function assertPasskey(publicKeyJson) {
    try {
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(publicKeyJson);
      const credential = await navigator.credentials.get({ publicKey });
      return credential.toJSON();
    } catch (error) {
      throw ceremonyFailure(error);
    }
  }

  async function loginWithPasskey() {
    const options = await call('POST', '/auth/passkeys/login/options', {});
    const credential = await assertPasskey(options.publicKey);
    const datos = await call('POST', '/auth/passkeys/login', { credential });
    clearNotice();
    await startSession(datos);
  }

  async function verifyWithPasskey() {
    let datos;
    try {
      const options = await call('POST', '/auth/passkeys/login/options', { mfaToken });
      const passkey = await assertPasskey(options.publicKey);
      datos = await call('POST', '/auth/mfa/verify', { mfaToken, passkey });
    } catch (error) {
      if (error.status === 401) {
        mfaToken = null;
        show('login');
      }
      throw error;
    }
    clearNotice();
    await startSession(datos);
  }

  /** "el 7/12/2026, 10:03:00", for a passkey's dates. */
  function when(rfc3339) {
    return new Date(rfc3339).toLocaleString('es');
  }

  /** The user's passkeys, each with its name (editable), dates, and rename and remove buttons. */
  async function loadPasskeys() {
    const passkeys = await authed('GET', '/auth/passkeys');
    $('lista-llaves').replaceChildren(...passkeys.map((p) => {
      const row = document.createElement('li');
      row.className = 'llave';
      row.dataset.id = p.id;
      const name = document.createElement('input');
      name.type = 'text';
      name.maxLength = 64;
      name.value = p.name;
      name.setAttribute('aria-label', 'Nombre de la llave');
      const dates = document.createElement('span');
      dates.className = 'nota';
      dates.textContent = 'Creada ' + when(p.createdAt)
        + (p.lastUsedAt ? ' · usada por última vez ' + when(p.lastUsedAt) : ' · sin usar todavía');
      const rename = document.createElement('button');
      rename.type = 'button';
      rename.className = 'secundario';
      rename.textContent = 'Guardar el nombre';
      wire(rename, async () => {
        await authed('PATCH', '/auth/passkeys/' + encodeURIComponent(p.id), { name: name.value });
        await loadPasskeys();
        notify('exito', 'Llave renombrada', '');
      });
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'peligro';
      remove.textContent = 'Quitar';
      wire(remove, () => removePasskey(p));
      row.append(name, dates, rename, remove);
      return row;
    }));
    $('llaves-vacio').hidden = passkeys.length > 0;
  }

  async function removePasskey(passkey, password) {
    try {
      await authed('DELETE', '/auth/passkeys/' + encodeURIComponent(passkey.id),
        password === undefined ? undefined : { password });
    } catch (error) {
      if (error.codigo === 'VALIDATION_ERROR' && password === undefined) {
        // The account's last second factor: the API wants the password.
        removing = passkey;
        $('llave-confirmar').hidden = false;
        $('llave-clave').focus();
        return;
      }
      throw error;
    }
    removing = null;
    $('llave-confirmar').hidden = true;
    await renderFactors();
    await loadPasskeys();
    notify('exito', 'Llave de acceso quitada', passkey.name + ' ya no sirve para entrar.');
  }

  async function confirmRemoval() {
    const password = $('llave-clave').value;
    $('llave-clave').value = '';
    if (removing) {
      await removePasskey(removing, password);
    }
  }

  function cancelRemoval() {
    removing = null;
    $('llave-clave').value = '';
    $('llave-confirmar').hidden = true;
  }

  async function addPasskey() {
    const options = await authed('POST', '/auth/passkeys/register/options');
    let credential;
    try {
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
      credential = (await navigator.credentials.create({ publicKey })).toJSON();
    } catch (error) {
      throw ceremonyFailure(error);
    }
    const name = $('llave-nombre').value.trim() || undefined;
    const added = await authed('POST', '/auth/passkeys/register', { credential, name });
    $('llave-nombre').value = '';
    await renderFactors();
    await loadPasskeys();
    notify('exito', 'Llave de acceso añadida', added.name + ': desde ahora puede entrar con ella.');
  }

  /** The second factors, from the API: the TOTP card and what passkeys may do here. */
  async function renderFactors() {
    const factors = await authed('GET', '/auth/mfa');
    mfaActive = factors.totp;
    passkeyEnrolment = factors.passkeyEnrolment;
    renderTotp();
    $('form-llave').hidden = !(passkeysHere && passkeyEnrolment);
    $('llaves-no-disponible').hidden = passkeysHere && passkeyEnrolment;
  }

  /** The TOTP card: enrolment offered when off, the disable form when on. */
  function renderTotp() {
    $('totp-estado').textContent = mfaActive
      ? 'Activada: cada inicio de sesión pide un código.'
      : 'Desactivada: basta con la contraseña.';
    $('totp-estado').classList.toggle('activa', mfaActive);
    $('totp-inactivo').hidden = mfaActive;
    $('totp-activo').hidden = !mfaActive;
  }

  function hideEnrolment() {
    $('totp-alta').hidden = true;
    $('totp-qr').removeAttribute('src');
    $('totp-secreto').textContent = '';
    $('totp-enlace').removeAttribute('href');
    $('totp-codigo').value = '';
  }

  function hideRecoveryCodes() {
    $('totp-recuperacion').hidden = true;
    $('lista-recuperacion').replaceChildren();
    $('copiado').textContent = '';
  }

  /** One row of a list of connections: a text and a button that runs `action`. */
  function connectionRow(text, label, action) {
    const row = document.createElement('li');
    const what = document.createElement('span');
    what.textContent = text;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secundario';
    button.textContent = label;
    wire(button, action);
    row.append(what, button);
    return row;
  }

  /** The apps with access and the signed-in browsers, from the API. */
  async function loadConnections() {
    const [apps, browsers] = await Promise.all([authed('GET', '/auth/apps'), authed('GET', '/auth/browsers')]);
    $('lista-apps').replaceChildren(...apps.map((a) => connectionRow(
      (a.clientName || a.clientId) + ' — ' + a.scope,
      'Retirar el acceso',
      async () => {
        await authed('DELETE', '/auth/apps/' + encodeURIComponent(a.clientId));
        await loadConnections();
        notify('exito', 'Acceso retirado', (a.clientName || a.clientId) + ' ya no tiene acceso a su cuenta.');
      },
    )));
    $('apps-vacio').hidden = apps.length > 0;
    $('lista-navegadores').replaceChildren(...browsers.map((b) => connectionRow(
      'Desde el ' + new Date(b.authTime * 1000).toLocaleString('es') +
        (b.amr.includes('mfa') ? ' (con verificación en dos pasos)' : ''),
      'Cerrar la sesión',
      async () => {
        await authed('DELETE', '/auth/browsers/' + encodeURIComponent(b.id));
        await loadConnections();
        notify('exito', 'Sesión del navegador cerrada', 'Las aplicaciones que entraron con ella también la cerraron.');
      },
    )));
    $('navegadores-vacio').hidden = browsers.length > 0;
  }

  /** Forgets the tokens and everything shown about the user, and shows the login. */
  function endSession() {
    session = null;
    mfaToken = null;
    mfaActive = false;
    for (const id of ['yo-usuario', 'yo-correo', 'yo-rol', 'yo-id']) {
      $(id).textContent = '';
    }
    hideEnrolment();
    hideRecoveryCodes();
    $('lista-apps').replaceChildren();
    $('lista-navegadores').replaceChildren();
    $('lista-llaves').replaceChildren();
    removing = null;
    $('llave-confirmar').hidden = true;
    for (const id of ['clave-actual', 'clave-nueva', 'clave-repetir', 'mfa-codigo', 'totp-codigo-desactivar',
      'llave-clave', 'llave-nombre']) {
      $(id).value = '';
    }
    show('login');
  }

  /** A login's `datos` (any step): keeps the pair, then asks the API who this is and what it holds. */
  async function startSession(datos) {
    session = { access: datos.accessToken, refresh: datos.refreshToken };
    mfaToken = null;
    $('login-clave').value = '';
    $('mfa-codigo').value = '';
    const user = await authed('GET', '/auth/me');
    $('yo-usuario').textContent = user.username;
    $('yo-correo').textContent = user.email;
    $('yo-rol').textContent = user.rol;
    $('yo-id').textContent = String(user.id);
    $('clave-usuario').value = user.username;
    hideEnrolment();
    hideRecoveryCodes();
    await renderFactors();
    show('cuenta');
    await Promise.all([loadConnections(), loadPasskeys()]);
  }

  // ---------------------------------------------------------------------------------------------
  // Actions

  /** Runs `action` for a button: disabled while it runs; errors shown (a 429 keeps it disabled). */
  function wire(button, action) {
    let running = false;
    const run = async (event) => {
      if (event) {
        event.preventDefault();
      }
      if (running || button.disabled) {
        return;
      }
      running = true;
      button.disabled = true;
      let keepDisabled = false;
      try {
        await action();
      } catch (error) {
        if (error instanceof ApiFailure) {
          showError(error, button);
          keepDisabled = error.status === 429 && error.retryAfter > 0;
        } else {
          notify('error', 'Error inesperado en la página', String(error && error.message));
        }
      } finally {
        running = false;
        if (!keepDisabled) {
          button.disabled = false;
        }
      }
    };
    const form = button.form;
    if (form && button.type === 'submit') {
      form.addEventListener('submit', run);
    } else {
      button.addEventListener('click', run);
    }
  }

  async function login() {
    const username = $('login-usuario').value.trim();
    const password = $('login-clave').value;
    const datos = await call('POST', '/auth/login', { username, password });
    clearNotice();
    if (datos.mfaRequired) {
      mfaToken = datos.mfaToken;
      $('login-clave').value = '';
      // The factors the user holds (an older service sends none: a code).
      const methods = Array.isArray(datos.methods) ? datos.methods : ['totp'];
      const byCode = methods.includes('totp') || !methods.includes('passkey');
      $('form-mfa').hidden = !byCode;
      $('mfa-llave').hidden = !(passkeysHere && methods.includes('passkey'));
      show('mfa');
      if (byCode) {
        $('mfa-codigo').focus();
      }
      return;
    }
    await startSession(datos);
  }

  async function verifyMfa() {
    const code = $('mfa-codigo').value.trim();
    let datos;
    try {
      datos = await call('POST', '/auth/mfa/verify', { mfaToken, code });
    } catch (error) {
      $('mfa-codigo').value = '';
      if (error.status === 401) {
        // The challenge expired or is no longer good: start over.
        mfaToken = null;
        show('login');
      }
      throw error;
    }
    clearNotice();
    await startSession(datos);
  }

  function cancelMfa() {
    mfaToken = null;
    $('mfa-codigo').value = '';
    clearNotice();
    show('login');
  }

  async function startEnrolment() {
    const datos = await authed('POST', '/auth/mfa/setup');
    clearNotice();
    if (typeof datos.qrCode === 'string' && datos.qrCode.startsWith('data:image/png;base64,')) {
      $('totp-qr').src = datos.qrCode;
    }
    // Groups of four, as authenticator apps show and accept them.
    $('totp-secreto').textContent = String(datos.secret).replace(/(.{4})(?=.)/g, '$1 ');
    if (typeof datos.otpauthUrl === 'string' && datos.otpauthUrl.startsWith('otpauth://totp/')) {
      $('totp-enlace').href = datos.otpauthUrl;
    }
    $('totp-inactivo').hidden = true;
    $('totp-alta').hidden = false;
    $('totp-codigo').focus();
  }

  function cancelEnrolment() {
    hideEnrolment();
    clearNotice();
    renderTotp();
  }

  async function activate() {
    const code = $('totp-codigo').value.trim();
    let datos;
    try {
      datos = await authed('POST', '/auth/mfa/activate', { code });
    } finally {
      $('totp-codigo').value = '';
    }
    mfaActive = true;
    hideEnrolment();
    renderTotp();
    $('totp-activo').hidden = true;
    const list = $('lista-recuperacion');
    list.replaceChildren(...datos.recoveryCodes.map((code) => {
      const item = document.createElement('li');
      item.textContent = code;
      return item;
    }));
    $('totp-recuperacion').hidden = false;
    notify('exito', 'Verificación en dos pasos activada', 'Guarde sus códigos de recuperación antes de seguir.');
  }

  async function copyCodes() {
    const codes = Array.from($('lista-recuperacion').children, (item) => item.textContent);
    try {
      await navigator.clipboard.writeText(codes.join('\n') + '\n');
      $('copiado').textContent = 'Copiados al portapapeles.';
    } catch (_) {
      // No clipboard access (an insecure origin, a denied permission): select them for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents($('lista-recuperacion'));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $('copiado').textContent = 'Seleccionados: pulse Ctrl+C (⌘C) para copiarlos.';
    }
  }

  function recoveryCodesSaved() {
    hideRecoveryCodes();
    clearNotice();
    renderTotp();
  }

  async function disable() {
    const code = $('totp-codigo-desactivar').value.trim();
    try {
      await authed('POST', '/auth/mfa/disable', { code });
    } finally {
      $('totp-codigo-desactivar').value = '';
    }
    mfaActive = false;
    renderTotp();
    notify('exito', 'Verificación en dos pasos desactivada', 'Sus inicios de sesión ya no piden un código.');
  }

  async function changePassword() {
    const currentPassword = $('clave-actual').value;
    const newPassword = $('clave-nueva').value;
    if (newPassword !== $('clave-repetir').value) {
      notify('error', 'Las contraseñas nuevas no coinciden', 'Escriba la misma contraseña nueva en los dos campos.');
      return;
    }
    const datos = await authed('POST', '/auth/password', { currentPassword, newPassword });
    session = { access: datos.accessToken, refresh: datos.refreshToken };
    for (const id of ['clave-actual', 'clave-nueva', 'clave-repetir']) {
      $(id).value = '';
    }
    notify('exito', 'Contraseña cambiada', 'Sus demás sesiones se cerraron; esta sigue abierta.');
  }

  async function logout(everywhere) {
    try {
      await authed('POST', everywhere ? '/auth/logout-all' : '/auth/logout');
    } catch (error) {
      // The tokens are forgotten here whatever the answer; say what the API said.
      endSession();
      throw error;
    }
    endSession();
    notify('exito', everywhere ? 'Todas sus sesiones se cerraron' : 'Sesión cerrada',
      everywhere ? 'Esta y las de sus otros dispositivos y aplicaciones.' : '');
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  function start() {
    wire($('boton-login'), login);
    wire($('boton-mfa'), verifyMfa);
    wire($('boton-mfa-cancelar'), async () => cancelMfa());
    wire($('boton-totp-iniciar'), startEnrolment);
    wire($('boton-totp-activar'), activate);
    wire($('boton-totp-cancelar'), async () => cancelEnrolment());
    wire($('boton-copiar'), copyCodes);
    wire($('boton-recuperacion-listo'), async () => recoveryCodesSaved());
    wire($('boton-totp-desactivar'), disable);
    wire($('boton-clave'), changePassword);
    wire($('boton-salir'), () => logout(false));
    wire($('boton-salir-todas'), () => logout(true));
    wire($('boton-login-llave'), loginWithPasskey);
    wire($('boton-mfa-llave'), verifyWithPasskey);
    wire($('boton-llave-crear'), addPasskey);
    wire($('boton-llave-confirmar'), confirmRemoval);
    wire($('boton-llave-no'), async () => cancelRemoval());
    $('login-llave').hidden = !passkeysHere;
    for (const button of document.querySelectorAll('button[disabled]')) {
      button.disabled = false;
    }
    endSession();
    document.body.dataset.listo = 'si';
    $('login-usuario').focus();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
