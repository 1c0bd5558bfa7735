// SignOnce's passkey forms (served as /.auth/static/passkeys.js, after @simplewebauthn/browser's
// bundle as /.auth/static/webauthn.js). Each `form[data-passkey]` is hidden in the page: without
// JavaScript, or in a browser without WebAuthn, it stays hidden and the page works as before. Here it
// is shown, and its submission runs the ceremony (`register` or `authenticate`) with the options in
// `data-options`, then posts the browser's answer in the form's `response` field. A form with
// `data-autofill` also offers its passkeys in the username field's autofill (conditional UI).
(() => {
  const webauthn = globalThis.SimpleWebAuthnBrowser;
  if (!webauthn?.browserSupportsWebAuthn()) return;

  for (const form of document.querySelectorAll('form[data-passkey]')) {
    const optionsJSON = JSON.parse(form.dataset.options);
    const status = form.querySelector('[data-passkey-status]');
    const post = (answer) => {
      form.elements.response.value = JSON.stringify(answer);
      form.submit();
    };
    const failed = (error) => {
      // A ceremony given up for another (the button after autofill) is no failure.
      if (error?.name === 'AbortError' || error?.code === 'ERROR_CEREMONY_ABORTED') return;
      if (status) status.textContent = `No passkey was used: ${error?.message ?? error}`;
    };
    const ceremony = () =>
      form.dataset.passkey === 'register'
        ? webauthn.startRegistration({ optionsJSON })
        : webauthn.startAuthentication({ optionsJSON });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (status) status.textContent = '';
      ceremony().then(post, failed);
    });
    form.hidden = false;
    if ('autofill' in form.dataset)
      webauthn.browserSupportsWebAuthnAutofill().then((supported) => {
        if (supported) webauthn.startAuthentication({ optionsJSON, useBrowserAutofill: true }).then(post, failed);
      });
  }
})();
