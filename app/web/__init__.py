"""The county's web pages: server-rendered Jinja2, Chinese first, signed in by a cookie.

``app.web.router`` mounts the pages; ``app.web.i18n`` holds the catalogs and formats;
``app.web.session`` the cookie session and CSRF; ``app.web.headers`` the security headers.
"""
