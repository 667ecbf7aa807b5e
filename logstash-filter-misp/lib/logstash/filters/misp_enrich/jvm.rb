# encoding: utf-8
# The plugin's Java hot path (vendor/java/misp_enrich.jar, built from
# logstash-filter-misp/src/main/java by scripts/build-jar): BatchReader reads
# the configured fields of a whole batch straight from the Java events and
# encodes them into a direct buffer; NativeLookup hands that buffer to the
# native library in one JNI call. The library is the file Native.load! loaded
# through FFI (System.load of the same path maps the same library), so the
# engine Native::Engine made is the one the JNI call uses.
require "java"

module MispEnrich
  module Native
    module JVM
      JAR = File.join(VENDOR_DIR, "java", "misp_enrich.jar")
      LOCK = Mutex.new

      # Loads the jar and binds its native method to the library; once per
      # JVM. Raises Native::LoadError when the jar is missing or the library
      # cannot be bound.
      def self.load!
        return if @loaded
        Native.load!
        LOCK.synchronize do
          return if @loaded
          unless File.file?(JAR)
            raise LoadError, "misp_enrich: the gem's Java part #{JAR} is missing; build it with " \
                             "`scripts/vendor` (or `jruby -S rake gem`) in a misp-enrich checkout"
          end
          begin
            require JAR
            Java::OrgMispenrichLogstash::NativeLookup.load(Native.library_path)
          rescue ::LoadError, java.lang.UnsatisfiedLinkError, java.lang.LinkageError => e
            raise LoadError, "misp_enrich cannot load its Java part #{JAR} with #{Native.library_path}: #{e.message}"
          end
          @loaded = true
        end
      end

      # A BatchReader for field references and their namespace names.
      def self.reader(references, namespaces, max_elements)
        load!
        ids = namespaces.map do |ns|
          Native.namespace_ids.fetch(ns) { raise ArgumentError, "unknown namespace #{ns.inspect}" }
        end
        Java::OrgMispenrichLogstash::BatchReader.new(references.map(&:to_s).to_java(:string),
                                                      ids.to_java(:byte), max_elements)
      end

      # Runs the block (a JNI lookup); the library's refusal becomes Native::Error.
      def self.call
        yield
      rescue Java::OrgMispenrichLogstash::LookupException => e
        raise Error.new(STATUS.fetch(e.status, e.status), e.message)
      end
    end
  end
end
