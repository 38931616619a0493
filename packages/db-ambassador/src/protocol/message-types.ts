// The PostgreSQL v3 wire protocol's message codes, as the pooler sees them.
// https://www.postgresql.org/docs/15/protocol-message-formats.html

/** Messages a client (frontend) sends after startup. */
export enum Frontend {
  Bind = 0x42, // 'B'
  Close = 0x43, // 'C'
  Describe = 0x44, // 'D'
  Execute = 0x45, // 'E'
  FunctionCall = 0x46, // 'F'
  Flush = 0x48, // 'H'
  Parse = 0x50, // 'P'
  Query = 0x51, // 'Q'
  Sync = 0x53, // 'S'
  Terminate = 0x58, // 'X'
  CopyDone = 0x63, // 'c'
  CopyData = 0x64, // 'd'
  CopyFail = 0x66, // 'f'
  /** PasswordMessage, SASLInitialResponse and SASLResponse share this code. */
  Password = 0x70, // 'p'
}

/** Messages a server (backend) sends. */
export enum Backend {
  ParseComplete = 0x31, // '1'
  BindComplete = 0x32, // '2'
  CloseComplete = 0x33, // '3'
  NotificationResponse = 0x41, // 'A'
  CommandComplete = 0x43, // 'C'
  DataRow = 0x44, // 'D'
  ErrorResponse = 0x45, // 'E'
  CopyInResponse = 0x47, // 'G'
  CopyOutResponse = 0x48, // 'H'
  EmptyQueryResponse = 0x49, // 'I'
  BackendKeyData = 0x4b, // 'K'
  NoticeResponse = 0x4e, // 'N'
  Authentication = 0x52, // 'R'
  ParameterStatus = 0x53, // 'S'
  RowDescription = 0x54, // 'T'
  FunctionCallResponse = 0x56, // 'V'
  CopyBothResponse = 0x57, // 'W'
  ReadyForQuery = 0x5a, // 'Z'
  CopyDone = 0x63, // 'c'
  CopyData = 0x64, // 'd'
  NoData = 0x6e, // 'n'
  PortalSuspended = 0x73, // 's'
  ParameterDescription = 0x74, // 't'
  NegotiateProtocolVersion = 0x76, // 'v'
}

/** The int32 code that opens an untyped startup-phase packet. */
export enum StartupCode {
  /** Protocol 3.0: major 3 in the high 16 bits. */
  Protocol3 = 196608,
  CancelRequest = 80877102,
  SSLRequest = 80877103,
  GSSENCRequest = 80877104,
}

/** The int32 subtype of an Authentication ('R') message. */
export enum AuthCode {
  Ok = 0,
  CleartextPassword = 3,
  MD5Password = 5,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** Transaction status byte of ReadyForQuery. */
export enum TxStatus {
  Idle = 0x49, // 'I'
  InTransaction = 0x54, // 'T'
  Failed = 0x45, // 'E'
}

/** SQLSTATE codes the pooler itself reports. */
export const SqlState = {
  protocolViolation: '08P01',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  tooManyConnections: '53300',
  connectionFailure: '08006',
  cannotConnectNow: '57P03',
  adminShutdown: '57P01',
  queryCanceled: '57014',
  featureNotSupported: '0A000',
  invalidCatalogName: '3D000',
  idleInTransactionTimeout: '25P03',
  syntaxError: '42601',
} as const
