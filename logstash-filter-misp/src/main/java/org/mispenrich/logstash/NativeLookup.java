/*
 * The JNI entry point into the native library (rust/ffi, src/jvm.rs): one
 * call per batch, the MEL1 batch in a direct ByteBuffer, the MER1 result
 * back as a byte[] (docs/engine.md). The engine itself is created, read and
 * freed through the C ABI (the Ruby FFI binding, native.rb); this class only
 * receives its address. The library is the one file FFI already loaded:
 * System.load of the same path maps the same library, so the address is valid
 * here.
 *
 * Each thread has its own buffers (batch and status), reused from batch to
 * batch; a batch buffer that had to grow past KEEP_BYTES is dropped after its
 * call, so one huge batch does not pin memory for the life of the worker.
 */
package org.mispenrich.logstash;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

public final class NativeLookup {
    /** rust/ffi's MispEnrichStatus codes this class reads. */
    static final int STATUS_OK = 7000;
    static final int STATUS_INVALID_ARGUMENT = 7001;
    static final int STATUS_PANIC = 7999;

    static final int INITIAL_BYTES = 64 * 1024;
    static final int KEEP_BYTES = 1024 * 1024;
    /** u32 status, u32 message length, then the message (UTF-8, cut to fit). */
    static final int STATUS_BYTES = 8 + 1024;

    private static volatile String loaded;

    private NativeLookup() {
    }

    /**
     * Loads the native library at `path` (absolute) for this class's native
     * method; the same path the FFI binding loaded. Idempotent.
     */
    public static synchronized void load(final String path) {
        if (path.equals(loaded)) {
            return;
        }
        System.load(path);
        loaded = path;
    }

    /** Whether load has been called. */
    public static boolean isLoaded() {
        return loaded != null;
    }

    /**
     * Looks up `length` bytes of `batch` (a direct buffer holding a MEL1
     * batch) with the engine at `engine`. Returns the MER1 result (owned by
     * the caller; the library keeps nothing). On a refused call returns null
     * and writes status and message into `status` (a direct buffer of at
     * least 8 bytes, little-endian u32 status, u32 length, message).
     */
    private static native byte[] lookup(long engine, ByteBuffer batch, int length, ByteBuffer status);

    /** The calling thread's buffers. */
    static final class Scratch {
        ByteBuffer batch = newBuffer(INITIAL_BYTES);
        long generation;
        final ByteBuffer status = newBuffer(STATUS_BYTES);

        /** A batch buffer of at least `bytes` (a new one when this is smaller), positions kept. */
        ByteBuffer grow(final ByteBuffer full, final int bytes) {
            int size = full.capacity();
            while (size < bytes) {
                if (size >= Integer.MAX_VALUE / 2) {
                    throw new LookupException(STATUS_INVALID_ARGUMENT, "batch larger than 1 GiB");
                }
                size *= 2;
            }
            final ByteBuffer bigger = newBuffer(size);
            full.flip();
            bigger.put(full);
            batch = bigger;
            return bigger;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    static Scratch scratch() {
        return SCRATCH.get();
    }

    static ByteBuffer newBuffer(final int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Looks up the batch the calling thread encoded into its scratch buffer
     * (positions 0..length). Throws LookupException when the library refuses.
     */
    static byte[] lookupScratch(final long engine, final int length) {
        final Scratch s = scratch();
        s.status.clear();
        s.status.putInt(0, STATUS_PANIC).putInt(4, 0);
        final byte[] result;
        try {
            result = lookup(engine, s.batch, length, s.status);
        } finally {
            if (s.batch.capacity() > KEEP_BYTES) {
                s.batch = newBuffer(INITIAL_BYTES);
            }
        }
        if (result != null) {
            return result;
        }
        final int status = s.status.getInt(0);
        final int len = Math.max(0, Math.min(s.status.getInt(4), STATUS_BYTES - 8));
        final byte[] message = new byte[len];
        s.status.position(8);
        s.status.get(message);
        final String text = len == 0 ? "the native lookup failed without a message" : new String(message, StandardCharsets.UTF_8);
        throw new LookupException(status, text);
    }

    /**
     * Looks up an already encoded MEL1 batch (the Ruby items API,
     * Native::Engine#lookup): copied into the thread's direct buffer, then
     * one call.
     */
    public static byte[] lookupBytes(final long engine, final byte[] batch) {
        final Scratch s = scratch();
        s.generation++;
        ByteBuffer buf = s.batch;
        buf.clear();
        if (buf.capacity() < batch.length) {
            buf = s.grow(buf, batch.length);
        }
        buf.put(batch);
        return lookupScratch(engine, batch.length);
    }
}
