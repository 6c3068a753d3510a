// The hosted login page's passkey forms (/oauth2/login): shown only where the browser can use
// passkeys. On submit: ask this service for the ceremony's options, let the browser run it, and post
// the assertion in the form's hidden `passkey` field. No DOM sinks: only `hidden`, `value` and text.
'use strict';

(function () {
  const canUse = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
  for (const form of document.querySelectorAll('form[data-passkey]')) {
    if (!canUse) continue;
    form.hidden = false;
    let running = false;
    form.addEventListener('submit', async (event) => {
      if (form.elements.passkey.value) return; // the assertion is in: let the form go
      event.preventDefault();
      if (running) return;
      running = true;
      const button = form.querySelector('button');
      button.disabled = true;
      try {
        const body = form.dataset.passkey === 'second' ? { mfaToken: form.elements.mfa.value } : {};
        const answer = await fetch('/auth/passkeys/login/options', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          credentials: 'same-origin',
        });
        const envelope = await answer.json();
        if (!answer.ok || !envelope.exito) throw new Error(envelope.detalle || envelope.mensaje);
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(envelope.datos.publicKey);
        const credential = await navigator.credentials.get({ publicKey });
        form.elements.passkey.value = JSON.stringify(credential.toJSON());
        form.submit();
      } catch (e) {
        let note = form.querySelector('.aviso');
        if (!note) {
          note = document.createElement('p');
          note.className = 'aviso error';
          note.setAttribute('role', 'alert');
          form.prepend(note);
        }
        note.textContent = e && e.name === 'NotAllowedError'
          ? 'Se canceló o no se encontró ninguna llave de acceso para esta cuenta.'
          : 'No se pudo usar la llave de acceso: ' + (e && e.message ? e.message : e);
      } finally {
        running = false;
        button.disabled = false;
      }
    });
  }
})();
