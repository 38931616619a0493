// Errors of the db-ambassador, with stable codes. Each is also logged with its code; the
// README lists every code (a test checks both directions).

import { PodkitError } from '@podkit/runtime'

/** Bytes from a client or server that break the v3 protocol; that one connection is closed. */
export class ProtocolError extends PodkitError {
  override readonly code = 'PODKIT_DB_PROTOCOL'
}

/** A client gave a wrong password or an unknown user (the client is told only that auth failed). */
export class ClientAuthError extends PodkitError {
  override readonly code = 'PODKIT_DB_CLIENT_AUTH'
}

/** The ambassador could not log in to the PostgreSQL server (wrong password, unsupported method). */
export class ServerLoginError extends PodkitError {
  override readonly code = 'PODKIT_DB_SERVER_LOGIN'
}

/** No TCP (or TLS) connection to any host of a database within server_connect_timeout. */
export class ServerConnectError extends PodkitError {
  override readonly code = 'PODKIT_DB_SERVER_CONNECT'
}

/** Several hosts were configured and none of them accepts writes (target_session_attrs=read-write). */
export class NoPrimaryError extends PodkitError {
  override readonly code = 'PODKIT_DB_NO_PRIMARY'
}

/** A client waited longer than query_wait_timeout for a server connection. */
export class QueryWaitTimeoutError extends PodkitError {
  override readonly code = 'PODKIT_DB_QUERY_WAIT_TIMEOUT'
}

/** max_client_conn reached: the new client is refused. */
export class TooManyClientsError extends PodkitError {
  override readonly code = 'PODKIT_DB_TOO_MANY_CLIENTS'
}

/** The client asked for a database that is neither configured nor covered by a `*` entry. */
export class UnknownDatabaseError extends PodkitError {
  override readonly code = 'PODKIT_DB_UNKNOWN_DATABASE'
}

/** The auth_file (userlist.txt) cannot be read or has a malformed line. */
export class AuthFileError extends PodkitError {
  override readonly code = 'PODKIT_DB_AUTH_FILE'
}

/** A TLS handshake with a client or a server failed, or TLS was required and refused. */
export class TlsError extends PodkitError {
  override readonly code = 'PODKIT_DB_TLS'
}

/** A client was disconnected by a housekeeping timeout (client_idle_timeout, idle_transaction_timeout). */
export class ClientTimeoutError extends PodkitError {
  override readonly code = 'PODKIT_DB_CLIENT_TIMEOUT'
}
