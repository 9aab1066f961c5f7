// Arriving here from a link on another site, a logged-in browser did not send its session
// cookie (SameSite=Strict). A request from this page is same-site: if it is let through to the
// page asked for, go there rather than ask for the token again.
fetch(location.href, { cache: 'no-store' }).then((response) => {
  if (response.ok && response.redirected) location.replace(response.url);
});
