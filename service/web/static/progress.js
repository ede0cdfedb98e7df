// Poll an import's progress row and reload the page once it is read or imported.
(function () {
  var box = document.getElementById("tt-progress");
  if (!box) { return; }
  var count = box.querySelector(".tt-count");
  var bar = box.querySelector("progress");
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.working === false || data.error) { window.location.reload(); return; }
        if (data.total) {
          count.textContent = data.done + " / " + data.total;
          bar.max = 100; bar.value = data.percent;
        }
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 300);
})();
