# encoding: utf-8
# Test-only stand-in (never shipped) for the parts of LogStash::Util that
# plugins touch.
require "logstash/namespace"

module LogStash
  module Util
    # The pipeline records which plugin a worker thread is running; nothing
    # reads it in the stand-in.
    def self.set_thread_plugin(plugin)
      Thread.current[:plugin] = plugin
    end

    def self.get_thread_id(thread)
      thread.object_id
    end

    # Copy of config params: containers and Strings are copied, immutable
    # values shared, anything else marshalled (as in logstash-core).
    def self.deep_clone(object)
      case object
      when Hash
        object.each_with_object({}) { |(key, value), copy| copy[key] = deep_clone(value) }
      when Array
        object.map { |value| deep_clone(value) }
      when Integer, Float, Symbol, IO, TrueClass, FalseClass, NilClass
        object
      when String
        object.clone
      else
        Marshal.load(Marshal.dump(object))
      end
    end
  end
end
