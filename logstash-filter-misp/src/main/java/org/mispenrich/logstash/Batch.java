/*
 * One encoded batch (BatchReader#read) and where each of its values came
 * from: for slot n, the event's index in the Logstash batch, the field's
 * index in the filter's configuration, and the value itself (the event's own
 * RubyString, or the to_s of a number). lookup hands the batch to the engine
 * (one JNI call) and returns the MER1 result, which lists only the slots that
 * matched or failed: the Ruby side reads origins of those slots alone.
 *
 * The encoded bytes live in the reading thread's scratch buffer: lookup must
 * be called on that thread, before it reads another batch (checked).
 */
package org.mispenrich.logstash;

import java.util.Arrays;

public final class Batch {
    private final NativeLookup.Scratch scratch;
    private final long generation;
    private int size;
    private int length;
    private int[] events;
    private int[] fields;
    private Object[] values;

    Batch(final NativeLookup.Scratch scratch, final int expected) {
        this.scratch = scratch;
        this.generation = ++scratch.generation;
        final int capacity = Math.max(16, expected);
        this.events = new int[capacity];
        this.fields = new int[capacity];
        this.values = new Object[capacity];
    }

    void add(final int event, final int field, final Object value) {
        if (size == events.length) {
            final int capacity = size * 2;
            events = Arrays.copyOf(events, capacity);
            fields = Arrays.copyOf(fields, capacity);
            values = Arrays.copyOf(values, capacity);
        }
        events[size] = event;
        fields[size] = field;
        values[size] = value;
        size++;
    }

    void encoded(final int bytes) {
        this.length = bytes;
    }

    /** Values in the batch (slots 0 .. size-1). */
    public int size() {
        return size;
    }

    public boolean isEmpty() {
        return size == 0;
    }

    /** Bytes of the encoded batch. */
    public int length() {
        return length;
    }

    /** Index in the Logstash batch of the event slot `slot` came from. */
    public int event(final int slot) {
        check(slot);
        return events[slot];
    }

    /** Index in the filter's fields of the field slot `slot` came from. */
    public int field(final int slot) {
        check(slot);
        return fields[slot];
    }

    /** The value looked up for slot `slot` (a RubyString). */
    public Object value(final int slot) {
        check(slot);
        return values[slot];
    }

    /** Indexes of the events that had at least one value, in order. */
    public int[] eventsWithValues() {
        int count = 0;
        int[] out = new int[Math.min(size, 64)];
        int last = -1;
        for (int i = 0; i < size; i++) {
            if (events[i] != last) {
                last = events[i];
                if (count == out.length) {
                    out = Arrays.copyOf(out, count * 2);
                }
                out[count++] = last;
            }
        }
        return Arrays.copyOf(out, count);
    }

    /**
     * Looks the batch up with the engine at address `engine` (one JNI call)
     * and returns the MER1 result. Throws LookupException when the library
     * refuses the call, IllegalStateException when called on another thread
     * or after the thread read another batch.
     */
    public byte[] lookup(final long engine) {
        if (NativeLookup.scratch() != scratch || scratch.generation != generation) {
            throw new IllegalStateException("a batch is looked up on the thread that read it, before it reads another");
        }
        return NativeLookup.lookupScratch(engine, length);
    }

    private void check(final int slot) {
        if (slot < 0 || slot >= size) {
            throw new IndexOutOfBoundsException("slot " + slot + " of " + size);
        }
    }
}
