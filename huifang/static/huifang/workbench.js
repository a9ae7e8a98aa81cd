/* The script runner of the callback task page: one item at a time, answered by click or by the
   keyboard (1 = yes, 2 = no, 3 = not sure; the next item follows; ← and → move between items).
   Without this file the page still works: every item is shown and the form is a plain POST.
   A static file (no inline script): the Content-Security-Policy allows scripts only from this site. */
(function () {
  "use strict";

  var KEYS = { "1": "yes", "2": "no", "3": "unsure" };

  function init() {
    var form = document.getElementById("attempt-form");
    if (!form) {
      return;
    }
    var items = Array.prototype.slice.call(form.querySelectorAll(".script-item"));
    var steps = Array.prototype.slice.call(form.querySelectorAll(".script-progress .step"));
    var errorBox = document.getElementById("runner-error");
    var identityBox = document.getElementById("id_identity_confirmed");
    var disposition = document.getElementById("id_disposition");
    var current = 0;

    function answerOf(item) {
      var checked = item.querySelector("input[type=radio]:checked");
      return checked ? checked.value : "";
    }

    function isWrong(item) {
      var expected = item.getAttribute("data-expected");
      var answer = answerOf(item);
      return answer !== "" && (expected === "yes" || expected === "no") && answer !== expected;
    }

    function refresh() {
      items.forEach(function (item, index) {
        item.classList.toggle("is-current", index === current);
        var warning = item.querySelector(".wrong-warning");
        if (warning) {
          warning.hidden = !isWrong(item);
        }
        var step = steps[index];
        if (step) {
          step.classList.toggle("answered", answerOf(item) !== "" && !isWrong(item));
          step.classList.toggle("wrong", isWrong(item));
          step.classList.toggle("current", index === current);
        }
      });
    }

    function show(index, focus) {
      if (!items.length) {
        return;
      }
      current = Math.max(0, Math.min(items.length - 1, index));
      refresh();
      if (focus !== false) {
        items[current].focus();
      }
    }

    function syncIdentity(item) {
      // Answering the identity question fills the identity box; the agent may still change it.
      if (item.getAttribute("data-identity") === "true" && identityBox) {
        identityBox.checked = answerOf(item) === "yes";
      }
    }

    function answer(item, value) {
      var radio = item.querySelector('input[type=radio][value="' + value + '"]');
      if (!radio) {
        return;
      }
      radio.checked = true;
      syncIdentity(item);
      var index = items.indexOf(item);
      if (index < items.length - 1) {
        show(index + 1);
      } else {
        refresh();
        if (disposition) {
          disposition.focus();
        }
      }
    }

    if (items.length) {
      form.classList.add("js-stepper");
      // Start at the first unanswered item (after a refused save, at the first one with an error).
      var start = items.findIndex(function (item) {
        return item.getAttribute("aria-invalid") === "true";
      });
      if (start < 0) {
        start = items.findIndex(function (item) {
          return answerOf(item) === "";
        });
      }
      show(start < 0 ? 0 : start, false);
    }

    items.forEach(function (item) {
      item.addEventListener("change", function (event) {
        if (event.target && event.target.type === "radio") {
          syncIdentity(item);
          refresh();
        }
      });
      // A click on an answer also moves on (the keyboard path does the same).
      item.addEventListener("click", function (event) {
        var target = event.target;
        if (target && target.type === "radio" && event.detail > 0) {
          answer(item, target.value);
        }
      });
    });

    steps.forEach(function (step, index) {
      step.addEventListener("click", function () {
        show(index);
      });
    });

    form.querySelectorAll("[data-runner]").forEach(function (button) {
      button.addEventListener("click", function () {
        show(current + (button.getAttribute("data-runner") === "next" ? 1 : -1));
      });
    });

    document.addEventListener("keydown", function (event) {
      if (!items.length || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var target = event.target;
      var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
      var typing =
        tag === "textarea" ||
        tag === "select" ||
        (tag === "input" && target.type !== "radio" && target.type !== "checkbox");
      if (typing) {
        return;
      }
      if (KEYS[event.key]) {
        event.preventDefault();
        answer(items[current], KEYS[event.key]);
      } else if (event.key === "ArrowRight" && target.type !== "radio") {
        event.preventDefault();
        show(current + 1);
      } else if (event.key === "ArrowLeft" && target.type !== "radio") {
        event.preventDefault();
        show(current - 1);
      }
    });

    // Mandatory items are enforced before the form leaves (the server checks again).
    form.addEventListener("submit", function (event) {
      if (!disposition || disposition.value !== "reached" || !identityBox || !identityBox.checked) {
        return;
      }
      var missing = items.findIndex(function (item) {
        return item.getAttribute("data-mandatory") === "true" && answerOf(item) === "";
      });
      if (missing >= 0) {
        event.preventDefault();
        if (errorBox) {
          errorBox.textContent = errorBox.getAttribute("data-missing") || "";
          errorBox.hidden = false;
        }
        show(missing);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
