# encoding: utf-8
# The FFI binding to the misp-enrich native library (rust/ffi). This is the
# only file that touches pointers: everything else in the plugin calls the
# Ruby methods defined here (Native.key, Native.version, Native.namespaces
# and Native::Engine, the batch lookup engine; see docs/engine.md). The library is bundled in the gem, one build per
# platform under vendor/<os>-<arch>/, and loaded by absolute path (FFI never
# resolves a bare name relative to a gem).
require "ffi"
require "java"
require "json"

module MispEnrich
  module Native
    # Raised when the bundled library is missing for this platform or
    # cannot be loaded.
    class LoadError < StandardError; end

    # Raised when the library reports an error status.
    class Error < StandardError
      attr_reader :status

      def initialize(status, message)
        @status = status
        super("#{message} (#{status})")
      end
    end

    VENDOR_DIR = File.expand_path("../../../../vendor", __dir__)

    # The Rust target that builds the library of each platform directory
    # (`scripts/vendor RUST_TARGET` writes vendor/<os>-<arch>/). Linux
    # libraries are linked for a glibc 2.17 floor.
    RUST_TARGETS = {
      "linux-x86_64" => "x86_64-unknown-linux-gnu",
      "linux-aarch64" => "aarch64-unknown-linux-gnu",
      "darwin-x86_64" => "x86_64-apple-darwin",
      "darwin-aarch64" => "aarch64-apple-darwin",
      "windows-x86_64" => "x86_64-pc-windows-msvc"
    }.freeze

    # Serialises the first load: two pipelines may register at once.
    LOAD_LOCK = Mutex.new

    # The platform directory the library for this JVM lives in, e.g. "linux-x86_64".
    def self.platform
      "#{FFI::Platform::OS}-#{FFI::Platform::ARCH}"
    end

    # Absolute path of the library for this platform. MISP_ENRICH_LIB
    # overrides it (for development builds).
    def self.library_path
      override = ENV["MISP_ENRICH_LIB"]
      return File.expand_path(override) if override && !override.empty?
      File.join(VENDOR_DIR, platform, FFI.map_library_name("misp_enrich"))
    end

    # The platforms this gem carries a library for, e.g. ["linux-x86_64"].
    def self.bundled_platforms
      Dir.glob(File.join(VENDOR_DIR, "*", "*misp_enrich.{so,dylib,dll}")).map { |f| File.basename(File.dirname(f)) }.uniq.sort
    end

    # Loads the library and attaches its functions, once per JVM. Raises
    # LoadError with a one-line message when this platform has no library
    # or it cannot be loaded.
    def self.load!
      return if @loaded
      LOAD_LOCK.synchronize do
        return if @loaded
        path = library_path
        raise LoadError, missing_library_message(path) unless File.file?(path)
        begin
          Functions.ffi_lib(path)
          Functions.attach_all
        rescue ::LoadError, FFI::NotFoundError => e
          raise LoadError, "misp_enrich cannot load #{path} on #{platform}: #{e.message.gsub(/\s*\n\s*/, '; ')}"
        end
        @loaded = true
      end
    end

    # One line: the platform, what the gem carries, how to build the rest.
    def self.missing_library_message(path)
      override = ENV["MISP_ENRICH_LIB"]
      if override && !override.empty?
        return "misp_enrich: MISP_ENRICH_LIB names #{path}, which does not exist (unset it to use the library the gem carries)"
      end
      carried = bundled_platforms
      target = RUST_TARGETS.fetch(platform, "the Rust target of #{platform}")
      "misp_enrich has no native library for #{platform} (this gem carries: " \
        "#{carried.empty? ? 'none' : carried.join(', ')}); build one on a machine with the Rust target " \
        "#{target}: `scripts/vendor #{target}` then `jruby -S rake gem` in a misp-enrich checkout, " \
        "and install that gem"
    end

    STATUS = {
      7000 => :ok, 7001 => :invalid_argument, 7002 => :not_utf8,
      7003 => :unknown_namespace, 7004 => :invalid_value, 7005 => :range,
      7006 => :buffer_too_small, 7007 => :invalid_prefix, 7008 => :invalid_config,
      7009 => :malformed_batch, 7999 => :panic
    }.freeze

    # The raw functions, attached once the library is loaded.
    module Functions
      extend FFI::Library

      def self.attach_all
        attach_function :misp_enrich_version, [], :string
        attach_function :misp_enrich_key,
                        [:buffer_in, :size_t, :buffer_in, :size_t, :buffer_in, :size_t,
                         :pointer, :size_t, :pointer], :uint32
        attach_function :misp_enrich_namespaces, [], :string
        attach_function :misp_enrich_engine_new,
                        [:buffer_in, :size_t, :pointer, :pointer, :size_t, :pointer], :uint32
        attach_function :misp_enrich_engine_stats, [:pointer, :pointer, :pointer], :uint32
        attach_function :misp_enrich_buffer_free, [:pointer, :size_t], :void
        attach_function :misp_enrich_engine_free, [:pointer], :void
      end
    end

    # The library's version string.
    def self.version
      load!
      Functions.misp_enrich_version
    end

    # [status, text]: the memcached key of `value` in namespace `ns`
    # (status :ok), the canonical CIDR for a range (:range), or an error
    # message (any other status).
    def self.key(ns, value, prefix = "")
      load!
      out = FFI::MemoryPointer.new(:uint8, 512)
      len = FFI::MemoryPointer.new(:size_t)
      args = [prefix, ns, value].map { |s| s.to_s.b }
      code = Functions.misp_enrich_key(args[0], args[0].bytesize, args[1], args[1].bytesize,
                                       args[2], args[2].bytesize, out, out.size, len)
      text = out.get_bytes(0, [len.read(:size_t), out.size].min).force_encoding(Encoding::UTF_8)
      [STATUS.fetch(code, :unknown), text]
    end

    # The namespace names the library knows, indexed by their wire id
    # (the batch format carries ids). "hashes" is Sysmon's Hashes string.
    def self.namespaces
      load!
      @namespaces ||= Functions.misp_enrich_namespaces.split("\n").map(&:freeze).freeze
    end

    # { "ip" => 10, ... }: namespace name to wire id.
    def self.namespace_ids
      @namespace_ids ||= namespaces.each_with_index.to_h.freeze
    end

    # One `event_id#type` entry of a match (both Strings).
    Entry = Struct.new(:event_id, :type)

    # One match of a slot: namespace (String, e.g. "sha256"; for a Sysmon
    # Hashes item the hash's own namespace), kind (:exact, :range or
    # :suffix), value (String: the normalised value, the CIDR range, or the
    # parent domain that matched) and entries (Array of Entry, in stored
    # order).
    Match = Struct.new(:namespace, :kind, :value, :entries)

    # What a slot got: matches (Array of Match, possibly empty) and failed
    # (true when some of its values could not be looked up: tag the event).
    SlotResult = Struct.new(:matches, :failed)

    # The answer to a batch: slots ({ slot Integer => SlotResult }, only
    # slots that matched or failed) and events ({ event id String => Hash }
    # of the MISP event metadata of the matches, when misp-load stored it:
    # "id", "uuid", "info", "threat_level", "date", "org", "tags",
    # "loaded_at").
    Result = Struct.new(:slots, :events) do
      # Slots flagged as failed.
      def failed_slots
        slots.select { |_, r| r.failed }.keys
      end
    end

    # Raised by Engine#lookup and #stats after #close.
    class ClosedError < StandardError; end

    MATCH_KINDS = [:exact, :range, :suffix].freeze

    # The lookup engine: one per filter instance, shared by every pipeline
    # worker (thread-safe; lookups run in parallel). Created from a Hash
    # that becomes the engine's JSON configuration (docs/engine.md).
    class Engine
      ERR_CAP = 1024
      SIZE_T = FFI.type_size(:size_t)

      # config: Hash with "servers" (Array of "host:port") and any of the
      # optional keys of docs/engine.md (symbol or string keys). Raises
      # Native::Error (status :invalid_config) with the reason.
      def initialize(config)
        Native.load!
        JVM.load!
        json = JSON.generate(config).b
        out = FFI::MemoryPointer.new(:pointer)
        err = FFI::MemoryPointer.new(:uint8, ERR_CAP)
        err_len = FFI::MemoryPointer.new(:size_t)
        code = Functions.misp_enrich_engine_new(json, json.bytesize, out, err, ERR_CAP, err_len)
        raise Native.error(code, err, err_len) unless code == 7000
        # Freed by #close, or by the GC when the engine is unreachable
        # (then no lookup can be running on it).
        @handle = FFI::AutoPointer.new(out.read_pointer, Functions.method(:misp_enrich_engine_free))
        @ids = Native.namespace_ids
        # Lookups share the read side; #close takes the write side and
        # waits for lookups in flight, so the handle is never used after free.
        lock = java.util.concurrent.locks.ReentrantReadWriteLock.new
        @read_lock = lock.read_lock
        @write_lock = lock.write_lock
        @closed = false
      end

      # items: Array of [slot, namespace, value]: slot an Integer
      # (0..2**32-1, e.g. the event's index in the batch, or one per field
      # value to know which field matched), namespace a String from
      # Native.namespaces ("ip", "domain", "sha256", "hashes", ...), value
      # a String (anything else is converted with to_s). Returns a Result.
      # Values that cannot be indicators are skipped (counted in stats).
      # Never blocks past the configured batch timeout: slots whose values
      # could not be looked up come back with failed = true. Raises
      # ArgumentError for an unknown namespace, ClosedError after close.
      def lookup(items)
        batch = encode(items).to_java_bytes
        with_handle do |handle|
          decode(String.from_java_bytes(JVM.call { Java::OrgMispenrichLogstash::NativeLookup.lookupBytes(handle.address, batch) }))
        end
      end

      # The plugin's path: `batch` is what JVM.reader(...).read(events) read
      # and encoded from a Logstash batch, on this thread (one JNI call).
      # Returns a Result, like #lookup; slots are the batch's (Batch#event,
      # #field and #value tell where each came from).
      def lookup_batch(batch)
        with_handle do |handle|
          decode(String.from_java_bytes(JVM.call { batch.lookup(handle.address) }))
        end
      end

      # The engine's counters and states as a Hash (docs/engine.md).
      def stats
        with_handle do |handle|
          out = FFI::MemoryPointer.new(:size_t, 2)
          code = Functions.misp_enrich_engine_stats(handle, out, out + SIZE_T)
          raise Error.new(STATUS.fetch(code, code), "stats failed") unless code == 7000
          JSON.parse(take_buffer(out).force_encoding(Encoding::UTF_8))
        end
      end

      # Frees the engine. Idempotent; waits for lookups in flight.
      def close
        @write_lock.lock
        begin
          return if @closed
          @closed = true
          @handle.free
        ensure
          @write_lock.unlock
        end
        nil
      end

      def closed?
        @closed
      end

      private

      def with_handle
        @read_lock.lock
        begin
          raise ClosedError, "the misp_enrich engine is closed" if @closed
          yield @handle
        ensure
          @read_lock.unlock
        end
      end

      # Reads the library's buffer (pointer at out[0], length at out[1]:
      # stats) and gives it back to the library.
      def take_buffer(out)
        ptr = out.get_pointer(0)
        len = out.get(:size_t, SIZE_T)
        begin
          ptr.get_bytes(0, len)
        ensure
          Functions.misp_enrich_buffer_free(ptr, len)
        end
      end

      # The batch format MEL1: "MEL1", u32 count, then per item u32 slot,
      # u8 namespace id, u32 length, bytes (little-endian). One pack call.
      def encode(items)
        values = ["MEL1", items.size]
        items.each do |slot, ns, value|
          id = @ids[ns] or raise ArgumentError, "unknown namespace #{ns.inspect} (known: #{@ids.keys.join(', ')})"
          value = value.to_s
          values.push(slot, id, value.bytesize, value)
        end
        values.pack("a4V" + "VCVa*" * items.size)
      end

      # The result format MER1 (docs/engine.md) into a Result.
      def decode(buf)
        raise Error.new(:malformed_result, "not a result buffer") unless buf.byteslice(0, 4) == "MER1"
        names = Native.namespaces
        r = Reader.new(buf, 4)
        slots = {}
        r.u32.times do
          slot = r.u32
          failed = r.u8 & 1 == 1
          matches = Array.new(r.u32) do
            ns = names[r.u8]
            kind = MATCH_KINDS[r.u8]
            value = r.str
            Match.new(ns, kind, value, Array.new(r.u32) { Entry.new(r.str, r.str) })
          end
          slots[slot] = SlotResult.new(matches, failed)
        end
        events = {}
        r.u32.times do
          id = r.str
          events[id] = JSON.parse(r.str)
        end
        Result.new(slots, events)
      end
    end

    # Reads a result buffer front to back (one per decode: lookups run in
    # parallel on one engine).
    class Reader
      def initialize(buf, pos)
        @buf = buf
        @pos = pos
      end

      def u8
        b = @buf.getbyte(@pos) or raise Error.new(:malformed_result, "result buffer truncated")
        @pos += 1
        b
      end

      def u32
        raise Error.new(:malformed_result, "result buffer truncated") if @pos + 4 > @buf.bytesize
        n = @buf.unpack("@#{@pos}V").first
        @pos += 4
        n
      end

      def str
        len = u32
        s = @buf.byteslice(@pos, len)
        raise Error.new(:malformed_result, "result buffer truncated") unless s && s.bytesize == len
        @pos += len
        s.force_encoding(Encoding::UTF_8)
      end
    end

    # An Error from a status code and the message the library wrote.
    def self.error(code, err, err_len)
      len = [err_len.read(:size_t), Engine::ERR_CAP].min
      Error.new(STATUS.fetch(code, code), err.get_bytes(0, len).force_encoding(Encoding::UTF_8))
    end
  end
end

require "logstash/filters/misp_enrich/jvm"
