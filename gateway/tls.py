"""Server-side TLS for both front ends; with a client CA configured, clients must present a
certificate it signed (mutual TLS). The API key is still required on top."""

from __future__ import annotations

import ssl

import grpc

from gateway.config import TlsFiles


def grpc_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    client_ca = files.client_ca.read_bytes() if files.client_ca else None
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def http_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca is not None:
        context.load_verify_locations(cafile=str(files.client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context
