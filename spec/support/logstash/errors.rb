# encoding: utf-8
# Test-only stand-in (never shipped) for logstash-core's error classes
# (JRubyLogstashErrorsExt / lib/logstash/errors.rb in 8.x/9.x).
module LogStash
  class Error < ::StandardError; end
  class EnvironmentError < Error; end
  class ConfigurationError < Error; end
  class PluginLoadingError < Error; end
  class PluginNoVersionError < Error; end
  class TimestampParserError < Error; end
  class ShutdownSignal < ::StandardError; end
end

module LogStashStandIn
  # Ruby stand-ins for Java exceptions the real Event raises. They have no
  # Ruby-visible name in Logstash (they are org.logstash.* Java classes), so
  # they are kept out of the LogStash namespace on purpose: plugin code must
  # rescue them generically (`rescue => e`), never by name.
  class JavaRuntimeException < ::RuntimeError; end

  # org.logstash.MissingConverterException: Event#set/new got a value of a
  # type the Valuefier cannot store.
  class MissingConverterException < JavaRuntimeException
    def initialize(value)
      klass = value.class
      super("Missing Converter handling for full class name=#{klass.name || klass.inspect}, " \
            "simple name=#{(klass.name || klass.inspect).split('::').last}")
    end
  end

  # org.logstash.Accessors.InvalidFieldSetException (and the
  # ClassCastException the real code throws for deeper scalar parents).
  class InvalidFieldSetException < JavaRuntimeException
    def initialize(target, key, value)
      super("Could not set field '#{key}' on object '#{LogStashStandIn::Values.java_to_s(target)}' " \
            "to value '#{LogStashStandIn::Values.java_to_s(value)}'.This is probably due to trying to " \
            "set a field like [foo][bar] = someValue when [foo] is not either a map or a string")
    end
  end

  # org.logstash.Event.InvalidTagsTypeException: `tags` may only hold a
  # String or an Array of Strings.
  class InvalidTagsTypeException < JavaRuntimeException
    def initialize(field, value)
      super("Could not set the reserved tags field '#{field.canonical}' to value " \
            "'#{LogStashStandIn::Values.java_to_s(value)}'. " \
            "The tags field only accepts string or array of string.")
    end
  end

  # java.lang.IndexOutOfBoundsException from ConvertedList#set.
  class IndexOutOfBoundsException < JavaRuntimeException; end
end
