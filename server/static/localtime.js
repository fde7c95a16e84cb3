// Shows the times of the account page in the browser's own time zone. The
// page carries each time as <time datetime="RFC 3339"> with UTC text, which
// is what stays when scripts are off; the UTC text moves to the title.
"use strict";
(function () {
	var opts = {year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"};
	document.querySelectorAll("time[datetime]").forEach(function (el) {
		var d = new Date(el.getAttribute("datetime"));
		if (isNaN(d.getTime())) {
			return;
		}
		el.title = el.textContent;
		el.textContent = d.toLocaleString(undefined, opts);
		el.setAttribute("data-local", "");
	});
})();
