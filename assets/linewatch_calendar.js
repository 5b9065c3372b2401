/* The range bar's calendar in the page's language.
 *
 * Dash 4's date pickers name months and weekdays with a date-fns locale from window.dateFns.locale:
 * the one matching the browser's languages, else the first. The vendored date-fns locales
 * (assets/date-fns-4.4.0-locale-*.min.js, loaded before this file) put enUS and zhCN there; this
 * file replaces that table with a single entry that answers with the locale of the page's own
 * language (the lang of the .lw-app root, which ?lang= and the language link set), so a page in
 * English in a Chinese browser gets an English calendar, and the other way round.
 */
(function () {
  "use strict";
  const vendored = (window.dateFns && window.dateFns.locale) || {};
  const byLang = {en: vendored.enUS, zh: vendored.zhCN};
  const table = {};
  Object.defineProperty(table, "page", {
    enumerable: true,
    get: function () {
      const root = document.querySelector(".lw-app");
      return byLang[root && root.lang] || vendored.enUS;
    },
  });
  window.dateFns = Object.assign({}, window.dateFns, {locale: table});
})();
