// A stand-in for https://telegram.org/js/telegram-web-app.js in browser tests (the real one is
// never downloaded in tests). Like the real script it reads tgWebAppData and
// tgWebAppThemeParams from the URL fragment; it records haptics and lets the test switch theme.
(function () {
  var hash = new URLSearchParams(location.hash.slice(1));
  var initData = hash.get('tgWebAppData') || '';
  var params = new URLSearchParams(initData);
  var user = null;
  try { user = JSON.parse(params.get('user')); } catch (e) { user = null; }
  var theme = {};
  try { theme = JSON.parse(hash.get('tgWebAppThemeParams') || '{}'); } catch (e) { theme = {}; }
  var handlers = {};
  var calls = [];
  window.__tgCalls = calls;
  function record(name) { return function () { calls.push([name].concat([].slice.call(arguments))); }; }
  function button() {
    var clicks = [];
    return {
      isVisible: false,
      show: function () { this.isVisible = true; calls.push(['BackButton.show']); },
      hide: function () { this.isVisible = false; },
      onClick: function (fn) { clicks.push(fn); },
      offClick: function (fn) { clicks = clicks.filter(function (f) { return f !== fn; }); },
      press: function () { clicks.slice().forEach(function (fn) { fn(); }); },
    };
  }
  var webApp = {
    initData: initData,
    initDataUnsafe: { user: user, auth_date: params.get('auth_date') },
    version: '8.0',
    platform: 'tdesktop',
    colorScheme: hash.get('tgWebAppColorScheme') || 'light',
    themeParams: theme,
    isExpanded: false,
    ready: record('ready'),
    expand: function () { webApp.isExpanded = true; calls.push(['expand']); },
    close: record('close'),
    setHeaderColor: record('setHeaderColor'),
    isVersionAtLeast: function () { return true; },
    onEvent: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
    offEvent: function (name, fn) { handlers[name] = (handlers[name] || []).filter(function (f) { return f !== fn; }); },
    BackButton: button(),
    MainButton: button(),
    HapticFeedback: {
      impactOccurred: record('impactOccurred'),
      notificationOccurred: record('notificationOccurred'),
      selectionChanged: record('selectionChanged'),
    },
  };
  window.__setTheme = function (scheme, params) {
    webApp.colorScheme = scheme;
    webApp.themeParams = params;
    (handlers.themeChanged || []).forEach(function (fn) { fn.call(webApp); });
  };
  window.Telegram = { WebApp: webApp };
})();
