/*
 * Reads the configured fields of a whole Logstash batch straight from the
 * Java events (org.logstash.Event behind each Ruby LogStash::Event) and
 * encodes every value into the calling thread's direct buffer as one MEL1
 * batch (docs/engine.md): the raw bytes of the RubyStrings, no Ruby object
 * made per value. One reader per filter instance, shared by every worker
 * (it holds only the configuration).
 *
 * Which values are looked up (the plugin's contract, misp_enrich.rb): a
 * string as it is (empty ones skipped); an integer or float as its Ruby
 * to_s; the elements of an array, nested arrays included, depth first in
 * order, at most maxElements values per field of one event (and no nested
 * array is opened once maxElements elements wait on the stack); hashes,
 * booleans, timestamps and other types are skipped.
 */
package org.mispenrich.logstash;

import java.nio.ByteBuffer;
import java.util.List;
import org.jruby.RubyArray;
import org.jruby.RubyFloat;
import org.jruby.RubyInteger;
import org.jruby.RubyString;
import org.jruby.runtime.builtin.IRubyObject;
import org.jruby.util.ByteList;
import org.logstash.Event;
import org.logstash.FieldReference;
import org.logstash.ext.JrubyEventExtLibrary.RubyEvent;

public final class BatchReader {
    private static final byte[] MAGIC = {'M', 'E', 'L', '1'};
    /** slot u32, namespace u8, length u32. */
    private static final int ITEM_HEADER = 9;

    private final FieldReference[] fields;
    private final byte[] namespaces;
    private final int maxElements;

    /**
     * references: the configured field references (`[destination][ip]`);
     * namespaceIds: each one's wire id (Native.namespace_ids); maxElements:
     * values looked up per field of one event. Throws
     * FieldReference.IllegalSyntaxException for a reference Logstash refuses.
     */
    public BatchReader(final String[] references, final byte[] namespaceIds, final int maxElements) {
        if (references.length != namespaceIds.length || references.length == 0) {
            throw new IllegalArgumentException("one namespace id per field reference, at least one field");
        }
        this.fields = new FieldReference[references.length];
        for (int i = 0; i < references.length; i++) {
            this.fields[i] = FieldReference.from(references[i]);
        }
        this.namespaces = namespaceIds.clone();
        this.maxElements = maxElements;
    }

    /**
     * Encodes every value of every configured field of `events` (a Ruby
     * Array of LogStash::Event) into the calling thread's batch buffer.
     * Slots number the values from 0 in event order, then field order.
     */
    public Batch read(final RubyArray<?> events) {
        final NativeLookup.Scratch scratch = NativeLookup.scratch();
        final Batch batch = new Batch(scratch, events.getLength() * fields.length);
        ByteBuffer buf = scratch.batch;
        buf.clear();
        buf.put(MAGIC).putInt(0);
        Object[] stack = new Object[16];
        final int n = events.getLength();
        for (int index = 0; index < n; index++) {
            final Object element = events.eltInternal(index);
            if (!(element instanceof RubyEvent)) {
                continue;
            }
            final Event event = ((RubyEvent) element).getEvent();
            for (int f = 0; f < fields.length; f++) {
                final Object value;
                try {
                    value = event.getUnconvertedField(fields[f]);
                } catch (RuntimeException e) {
                    // A field the event cannot resolve holds no value to look up.
                    continue;
                }
                if (value == null) {
                    continue;
                }
                int sp = 0;
                stack[sp++] = value;
                int count = 0;
                while (sp > 0 && count < maxElements) {
                    final Object v = stack[--sp];
                    stack[sp] = null;
                    final RubyString text;
                    if (v instanceof RubyString) {
                        text = (RubyString) v;
                        if (text.getByteList().realSize() == 0) {
                            continue;
                        }
                    } else if (v instanceof RubyInteger || v instanceof RubyFloat) {
                        text = ((IRubyObject) v).asString();
                    } else if (v instanceof List) {
                        if (sp < maxElements) {
                            final List<?> list = (List<?>) v;
                            final int size = list.size();
                            if (sp + size > stack.length) {
                                stack = java.util.Arrays.copyOf(stack, Math.max(stack.length * 2, sp + size));
                            }
                            for (int i = size - 1; i >= 0; i--) {
                                stack[sp++] = list.get(i);
                            }
                        }
                        continue;
                    } else {
                        continue;
                    }
                    count++;
                    final ByteList bytes = text.getByteList();
                    final int len = bytes.realSize();
                    if (buf.remaining() < ITEM_HEADER + len) {
                        buf = scratch.grow(buf, buf.position() + ITEM_HEADER + len);
                    }
                    buf.putInt(batch.size()).put(namespaces[f]).putInt(len).put(bytes.unsafeBytes(), bytes.begin(), len);
                    batch.add(index, f, text);
                }
                while (sp > 0) {
                    stack[--sp] = null;
                }
            }
        }
        buf.putInt(4, batch.size());
        batch.encoded(buf.position());
        return batch;
    }
}
