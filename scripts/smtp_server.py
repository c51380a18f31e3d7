#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the tests and the benchmark, on 127.0.0.1 only.

Listeners: PORT offers STARTTLS (AUTH PLAIN/LOGIN only after TLS; mail without AUTH is accepted
too, for the `tls: none` + allow_insecure case), TLS_PORT speaks TLS from the first byte.
Every accepted message is written byte for byte to DIR/mail/new/<seq>.eml (tmp + rename, like a
Maildir) with DIR/mail/new/<seq>.json beside it holding the envelope (mail from, recipients,
authenticated user, whether TLS was on, the connection number). Every accepted connection appends
one line to DIR/connections.log, so tests can count connections.

Recipients starting with `reject-` get `550 5.1.1`, ones starting with `defer-` get `451 4.3.0`.
"""
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    directory, port, tls_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    new = os.path.join(directory, "mail", "new")
    tmp = os.path.join(directory, "mail", "tmp")
    os.makedirs(new, exist_ok=True)
    os.makedirs(tmp, exist_ok=True)
    connections_log = open(os.path.join(directory, "connections.log"), "a", buffering=1)
    message_numbers = itertools.count(1)
    connection_numbers = itertools.count(1)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"))

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode():
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            local = address.split("@", 1)[0].lower()
            if local.startswith("reject-"):
                return "550 5.1.1 <%s>: recipient rejected by the test server" % address
            if local.startswith("defer-"):
                return "451 4.3.0 <%s>: try again later (test server)" % address
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            number = next(message_numbers)
            name = "%06d" % number
            raw = envelope.original_content if envelope.original_content is not None else envelope.content
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "auth_user": session.auth_data if session.authenticated else None,
                "tls": session.ssl is not None or server.implicit_tls,
                "connection": getattr(session, "connection_number", None),
            }
            for suffix, data in ((".json", json.dumps(meta).encode()), (".eml", raw)):
                path = os.path.join(tmp, name + suffix)
                with open(path, "wb") as handle:
                    handle.write(data)
                os.rename(path, os.path.join(new, name + suffix))
            return "250 2.0.0 OK queued as %s" % name

    class CountingSMTP(SMTP):
        def connection_made(self, transport):
            # STARTTLS calls this again for the same connection (with a fresh session).
            upgrade = getattr(self, "connection_number", None)
            super().connection_made(transport)
            self.implicit_tls = upgrade is None and transport.get_extra_info("ssl_object") is not None
            if upgrade is None:
                self.connection_number = next(connection_numbers)
                connections_log.write("%d\n" % self.connection_number)
            self.session.connection_number = self.connection_number

    handler = Handler()

    def factory(tls_on_connect):
        def make():
            # On the implicit-TLS listener the whole connection is TLS, which aiosmtpd does not
            # see (it only tracks STARTTLS), so AUTH is allowed there without its TLS check.
            kwargs = dict(hostname="localhost", authenticator=authenticator, auth_required=False,
                          auth_require_tls=not tls_on_connect, decode_data=False, enable_SMTPUTF8=True,
                          ident="astralisd test SMTP")
            if not tls_on_connect:
                kwargs["tls_context"] = context
            return CountingSMTP(handler, **kwargs)
        return make

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    plain = loop.run_until_complete(loop.create_server(factory(False), "127.0.0.1", port))
    implicit = loop.run_until_complete(loop.create_server(factory(True), "127.0.0.1", tls_port, ssl=context))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    loop.run_until_complete(stop.wait())
    plain.close()
    implicit.close()


if __name__ == "__main__":
    main()
