(function () {
  "use strict";
  function cellValue(td) {
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "") { var f = parseFloat(v); if (!isNaN(f)) { return f; } }
    return td.textContent.trim().toLowerCase();
  }
  function compare(a, b) {
    var na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) { return a - b; }
    if (na) { return -1; }
    if (nb) { return 1; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function updateCount(table) {
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) { if (!rows[i].hidden) { shown++; } }
    var counter = document.getElementById(table.id + "-count");
    if (counter) { counter.textContent = shown + " of " + rows.length + " rows"; }
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var asc = !th.classList.contains("asc");
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) { ths[i].classList.remove("asc", "desc"); }
    th.classList.add(asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var c = compare(cellValue(r1.cells[col]), cellValue(r2.cells[col]));
      return asc ? c : -c;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
  }
  function filter(table, query) {
    var q = query.trim().toLowerCase();
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      rows[i].hidden = q !== "" && rows[i].textContent.toLowerCase().indexOf(q) === -1;
    }
    updateCount(table);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var tables = document.querySelectorAll("table.kt");
    Array.prototype.forEach.call(tables, function (table) {
      var ths = table.tHead.rows[0].cells;
      Array.prototype.forEach.call(ths, function (th, col) {
        th.addEventListener("click", function () { sortBy(table, col, th); });
      });
      updateCount(table);
    });
    var inputs = document.querySelectorAll("input.kt-search");
    Array.prototype.forEach.call(inputs, function (input) {
      var table = document.getElementById(input.getAttribute("data-table"));
      if (table) { input.addEventListener("input", function () { filter(table, input.value); }); }
    });
  });
})();
