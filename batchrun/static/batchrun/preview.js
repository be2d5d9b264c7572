// Refresh a scheduled job's preview of next events while its rule is edited.
"use strict";
(function () {
    const FIELDS = ["timezone", "years", "months", "days_of_month", "weekdays", "hours", "minutes"];

    function init() {
        const box = document.getElementById("batchrun-preview");
        if (!box) {
            return;
        }
        let timer = null;
        let latest = 0;

        function refresh() {
            const params = new URLSearchParams();
            for (const name of FIELDS) {
                const input = document.getElementById("id_" + name);
                if (input) {
                    params.set(name, input.value);
                }
            }
            const request = ++latest;
            fetch(box.dataset.url + "?" + params.toString(), {credentials: "same-origin"})
                .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
                .then((html) => {
                    // Only the answer to the newest request is shown; the
                    // server escapes everything it renders.
                    if (request === latest) {
                        box.innerHTML = html;
                    }
                })
                .catch(() => {});
        }

        for (const name of FIELDS) {
            const input = document.getElementById("id_" + name);
            if (input) {
                input.addEventListener("input", () => {
                    clearTimeout(timer);
                    timer = setTimeout(refresh, 250);
                });
            }
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", init);
    } else {
        init();
    }
})();
