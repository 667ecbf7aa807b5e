/*
 * A lookup the native library refused: the status code of rust/ffi
 * (MispEnrichStatus: 7001 invalid argument, 7009 malformed batch, 7999 panic,
 * ...) and the library's message. The plugin's Ruby side turns it into
 * MispEnrich::Native::Error.
 */
package org.mispenrich.logstash;

public final class LookupException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public LookupException(final int status, final String message) {
        super(message);
        this.status = status;
    }

    /** The library's status code (docs/engine.md, "The C ABI"). */
    public int getStatus() {
        return status;
    }
}
