#!/usr/bin/env python3
"""Differential oracle for tests/agent/test_robots.c: python3-protego's
verdicts on a corpus of robots.txt files and paths, for the agent "plumb".

Output, one record a line:
    R <robots.txt as hex>
    P <0|1> <path>          protego's can_fetch for the last R
Exit status 77 when protego is not installed (Debian: python3-protego).

The corpus keeps to cases where RFC 9309 leaves no room for reading, and
where protego 0.2 follows it.  Known, deliberate differences are left out:
protego matches user-agent names as substrings ("plumbing" would match
"plumb"), adds "/" in front of patterns that lack it, reads typos such as
"dissallow", allows "/" whenever "/index.html" is allowed, and decodes
percent-encoded reserved characters.
"""
import sys

try:
    from protego import Protego
except ImportError:
    sys.exit(77)

AGENT = "plumb"

CORPUS = [
    # RFC 9309 section 5.1, read as each of the crawlers it names
    ("""User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: plumb
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
""", ["/", "/example/page.html", "/example/allowed.gif", "/example/other", "/x.gif",
      "/publications/a"]),
    ("""User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/
""", ["/", "/a.gif", "/a.gif?x", "/example/", "/example", "/publications/", "/publications"]),
    # RFC 9309 section 5.2: the longest match wins
    ("""User-Agent: plumb
Allow: /example/page/
Disallow: /example/page/disallowed.gif
""", ["/example/page/", "/example/page/disallowed.gif", "/example/page/x.gif", "/example/"]),
    # ties: allow wins
    ("""User-agent: *
Allow: /folder
Disallow: /folder
""", ["/folder", "/folder/x", "/other"]),
    ("""User-agent: *
Allow: /p
Disallow: /
""", ["/page", "/p", "/", "/other"]),
    ("""User-agent: *
Allow: /$
Disallow: /
""", ["/", "/page.htm", "/?q=1"]),
    ("""User-agent: *
Allow: /page
Disallow: /*.htm
""", ["/page.htm", "/page", "/x.htm", "/page.html"]),
    # wildcards
    ("""User-agent: *
Disallow: /fish
""", ["/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/Fish.asp", "/catfish"]),
    ("""User-agent: *
Disallow: /fish*
""", ["/fish", "/fish.html", "/fishheads/yummy.html", "/Fish.asp", "/catfish"]),
    ("""User-agent: *
Disallow: /fish/
""", ["/fish/", "/fish/?id=anything", "/fish/salmon.htm", "/fish", "/fish.html"]),
    ("""User-agent: *
Disallow: /*.php
""", ["/index.php", "/filename.php", "/folder/filename.php", "/folder/filename.php?parameters",
      "/folder/any.php.file.html", "/filename.php/", "/", "/windows.PHP"]),
    ("""User-agent: *
Disallow: /*.php$
""", ["/filename.php", "/folder/filename.php", "/filename.php?parameters", "/filename.php/",
      "/filename.php5", "/windows.PHP"]),
    ("""User-agent: *
Disallow: /fish*.php
""", ["/fish.php", "/fishheads/catfish.php?parameters", "/Fish.PHP", "/fis.php"]),
    ("""User-agent: *
Disallow: /a/*/b/*/c
""", ["/a/x/b/y/c", "/a/b/c", "/a/x/b/c", "/a/x/y/b/z/c/d", "/a//b//c"]),
    # our group wins over *; groups for us are combined
    ("""User-agent: *
Disallow: /

User-agent: plumb
Disallow: /private/

User-agent: other
Disallow: /public/

User-agent: plumb
Disallow: /secret
""", ["/", "/private/x", "/public/x", "/secret", "/secretary", "/ok"]),
    # a group of several agents; case of agent names and keys
    ("""user-agent: OtherBot
USER-AGENT: PLUMB
DISALLOW: /x
allow: /x/y
""", ["/x", "/x/y", "/x/z", "/y"]),
    # an empty disallow, and a group that is only for someone else
    ("""User-agent: *
Disallow:

User-agent: somebot
Disallow: /
""", ["/", "/anything"]),
    # comments, blank lines and other records inside groups
    ("""# robots.txt
User-agent: * # everyone
Crawl-delay: 10
Disallow: /tmp/ # temporary
Sitemap: https://example.com/sitemap.xml

Disallow: /cgi-bin/
""", ["/tmp/", "/tmp/x", "/cgi-bin/a", "/tmpx", "/"]),
    # percent-encoding of unreserved characters and of UTF-8
    ("""User-agent: *
Disallow: /foo/bar/%62%61%7A
Disallow: /%7Euser/
Disallow: /caf%C3%A9
""", ["/foo/bar/baz", "/foo/bar/%62az", "/~user/x", "/%7euser/x", "/caf%C3%A9", "/caf%c3%a9", "/cafe"]),
    # query strings take part in matching
    ("""User-agent: *
Disallow: /*?session=
Disallow: /search?
""", ["/page?session=1", "/page?x=1&session=2", "/page", "/search?q=x", "/search", "/searching"]),
    # no rules for anyone
    ("""User-agent: *
""", ["/", "/x"]),
    ("", ["/", "/x"]),
]


def main():
    out = []
    for text, paths in CORPUS:
        rp = Protego.parse(text)
        out.append("R " + text.encode("utf-8").hex())
        for p in paths:
            ok = rp.can_fetch("https://example.com" + p, AGENT)
            out.append("P %d %s" % (1 if ok else 0, p))
    sys.stdout.write("\n".join(out) + "\n")


main()
