// Starts Swagger UI (from the swagger-ui-dist package, served by calpush) on the API docs page of the dashboard,
// over the OpenAPI document the page names. A file of its own: the page's Content-Security-Policy allows no
// inline script.
'use strict';

window.addEventListener('load', function () {
  var element = document.getElementById('swagger-ui');
  if (!element || typeof window.SwaggerUIBundle !== 'function') return;
  element.replaceChildren();
  window.SwaggerUIBundle({
    url: element.getAttribute('data-spec'),
    domNode: element,
    deepLinking: true,
    // Nothing is fetched from elsewhere: no validator badge (it would call validator.swagger.io).
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
