# encoding: utf-8
# The FFI binding to the misp-enrich native library (rust/ffi). This is the
# only file that touches pointers: everything else in the plugin calls the
# Ruby methods defined here. The library is bundled in the gem, one build per
# platform under vendor/<os>-<arch>/, and loaded by absolute path (FFI never
# resolves a bare name relative to a gem).
require "ffi"

module LogStash
  module Filters
    class MispEnrich
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

        def self.load!
          return if @loaded
          path = library_path
          unless File.file?(path)
            available = Dir.glob(File.join(VENDOR_DIR, "*")).map { |d| File.basename(d) }
            raise LoadError, "misp_enrich has no native library for #{platform} (looked for #{path}; " \
                             "bundled: #{available.empty? ? 'none' : available.join(', ')}). " \
                             "Build it with `rake vendor` or use a gem built for this platform."
          end
          begin
            Functions.ffi_lib(path)
            Functions.attach_all
          rescue ::LoadError, FFI::NotFoundError => e
            raise LoadError, "cannot load #{path}: #{e.message}"
          end
          @loaded = true
        end

        STATUS = {
          7000 => :ok, 7001 => :invalid_argument, 7002 => :not_utf8,
          7003 => :unknown_namespace, 7004 => :invalid_value, 7005 => :range,
          7006 => :buffer_too_small, 7007 => :invalid_prefix, 7999 => :panic
        }.freeze

        # The raw functions, attached once the library is loaded.
        module Functions
          extend FFI::Library

          def self.attach_all
            attach_function :misp_enrich_version, [], :string
            attach_function :misp_enrich_key,
                            [:buffer_in, :size_t, :buffer_in, :size_t, :buffer_in, :size_t,
                             :pointer, :size_t, :pointer], :uint32
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
      end
    end
  end
end
