#!/usr/bin/python3
"""A real SMTP server for notify-channels.test.mjs: Debian's aiosmtpd on a loopback port, with
STARTTLS (required before AUTH and MAIL), implicit TLS, or neither (plain: a server a client
that requires TLS must refuse), one user, and every accepted message
appended to --out as a JSON line: the envelope, who authenticated, whether TLS carried it, and
the message as received. Prints "ready" once it listens."""
import argparse
import asyncio
import json
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument('--port', type=int, required=True)
p.add_argument('--mode', choices=['starttls', 'tls', 'plain'], required=True)
p.add_argument('--cert', required=True)
p.add_argument('--key', required=True)
p.add_argument('--user', required=True)
p.add_argument('--password', required=True)
p.add_argument('--out', required=True)
a = p.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)


def authenticator(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login.decode() == a.user and data.password.decode() == a.password
    return AuthResult(success=ok, handled=False, auth_data=data)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(a.out, 'a') as f:
            f.write(json.dumps({
                'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos,
                'auth': session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
                'tls': session.ssl is not None or a.mode == 'tls',
                'data': envelope.content.decode('utf-8', 'replace')}) + '\n')
        return '250 OK'


def factory():
    return SMTP(Handler(), hostname='localhost', authenticator=authenticator, auth_required=True,
                # implicit TLS is a transport aiosmtpd does not see: it would then never offer AUTH
                auth_require_tls=a.mode == 'starttls',
                tls_context=ctx if a.mode == 'starttls' else None, require_starttls=a.mode == 'starttls')


async def main():
    server = await asyncio.get_running_loop().create_server(
        factory, '127.0.0.1', a.port, ssl=ctx if a.mode == 'tls' else None)
    print('ready', flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
