// On a phone a data table shows each row as a card (style.css, "Phones"): every cell is given
// its column's header as data-label, read from the table's own <thead>, so the templates stay
// plain tables and a new table needs nothing (a template may set its own data-label). A cell
// spanning rows shifts the cells below it.
// The explicit roles keep the table a table for screen readers once CSS lays it out as blocks.
// Without JavaScript the cards simply have no labels.
document.querySelectorAll("table.data").forEach(function (table) {
  var head = table.tHead && table.tHead.rows[0];
  if (!head) { return; }
  var labels = [];
  Array.prototype.forEach.call(head.cells, function (th) {
    th.setAttribute("role", "columnheader");
    for (var i = 0; i < th.colSpan; i++) { labels.push(th.textContent.trim()); }
  });
  table.setAttribute("role", "table");
  table.tHead.setAttribute("role", "rowgroup");
  head.setAttribute("role", "row");
  var covered = [];  // per column: how many more rows a cell above still spans
  Array.prototype.forEach.call(table.tBodies, function (body) {
    body.setAttribute("role", "rowgroup");
    Array.prototype.forEach.call(body.rows, function (row) {
      row.setAttribute("role", "row");
      var col = 0;
      Array.prototype.forEach.call(row.cells, function (cell) {
        while (covered[col] > 0) { col++; }
        cell.setAttribute("role", cell.tagName === "TH" ? "rowheader" : "cell");
        // A cell across several columns ("no sources yet") belongs to none of them.
        if (labels[col] && cell.colSpan === 1 && !cell.hasAttribute("data-label")) {
          cell.dataset.label = labels[col];
        }
        for (var c = col; c < col + cell.colSpan; c++) { covered[c] = cell.rowSpan; }
        col += cell.colSpan;
      });
      for (var c = 0; c < covered.length; c++) { if (covered[c] > 0) { covered[c]--; } }
    });
  });
});
