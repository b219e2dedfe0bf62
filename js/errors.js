'use strict'

// The errors the package throws: each carries a `code` from src/error.rs (ErrorCode).

const { ErrorCode } = require('./loader').loadBinding()

// `{ INVALID_ARGUMENT: 'STREAM_CACHE_INVALID_ARGUMENT', ... }` from src/error.rs's ErrorCode.
const CODES = Object.freeze(
  Object.fromEntries(Object.values(ErrorCode).map((code) => [code.replace(/^STREAM_CACHE_/, ''), code])),
)

function codedError(message, code, ErrorClass = Error) {
  const err = new ErrorClass(message)
  err.code = code
  return err
}

const REALM_ERRORS = { TypeError, RangeError, Error }

// Native errors are built in the addon's realm; under jest or vm they would fail
// `instanceof TypeError` in the caller's. Rebuild them here, keeping message and code.
function adopt(err) {
  const Local = REALM_ERRORS[err?.name]
  if (Local === undefined || err instanceof Local) return err
  return codedError(err.message, err.code, Local)
}

function destroyedError() {
  return codedError('StreamCache has been destroyed', CODES.DESTROYED)
}

module.exports = { CODES, codedError, adopt, destroyedError }
