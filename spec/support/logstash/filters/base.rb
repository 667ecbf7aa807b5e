# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Filters::Base
# (logstash-core lib/logstash/filters/base.rb, unchanged from 8.0 to 9.x).
require "logstash/namespace"
require "logstash/event"
require "logstash/logging"
require "logstash/plugin"
require "logstash/config/mixin"
require "logstash/util/decorators"

module LogStash
  module Filters
    class Base < LogStash::Plugin
      include LogStash::Util::Loggable
      include LogStash::Config::Mixin

      config_name "filter"

      config :type, :validate => :string, :default => "",
                    :obsolete => "You can achieve this same behavior with the new conditionals, like: `if [type] == \"sometype\" { %PLUGIN% { ... } }`."
      config :tags, :validate => :array, :default => [],
                    :obsolete => "You can achieve similar behavior with the new conditionals, like: `if \"sometag\" in [tags] { %PLUGIN% { ... } }`"
      config :exclude_tags, :validate => :array, :default => [],
                            :obsolete => "You can achieve similar behavior with the new conditionals, like: `if (\"sometag\" not in [tags]) { %PLUGIN% { ... } }`"

      config :add_tag, :validate => :array, :default => []
      config :remove_tag, :validate => :array, :default => []
      config :add_field, :validate => :hash, :default => {}
      config :remove_field, :validate => :array, :default => []
      config :periodic_flush, :validate => :boolean, :default => false

      def self.plugin_type
        "filter"
      end

      def initialize(params)
        super
        config_init(@params)
        @threadsafe = true
      end

      def register
        raise "#{self.class}#register must be overidden"
      end

      def filter(_event)
        raise "#{self.class}#filter must be overidden"
      end

      # Slowlog timing is not modelled.
      def do_filter(event, &block)
        filter(event, &block)
      end

      # The pipeline calls this (never `filter`): each non-cancelled input
      # goes to the result, followed by the events `filter` yields for it.
      def multi_filter(events)
        LogStash::Util.set_thread_plugin(self)
        result = []
        events.each do |event|
          next if event.cancelled?
          result << event
          do_filter(event) { |new_event| result << new_event }
        end
        result
      end

      def execute(event, &block)
        do_filter(event, &block)
      end

      def threadsafe?
        @threadsafe
      end

      def close; end

      protected

      # To be called by `filter` on success: add_field, remove_field,
      # add_tag (no de-duplication), remove_tag, in that order.
      def filter_matched(event)
        LogStash::Util::Decorators.add_fields(@add_field, event, "filters/#{self.class.name}")

        @remove_field.each do |field|
          field = event.sprintf(field)
          @logger.debug? && @logger.debug("filters/#{self.class.name}: removing field", :field => field)
          event.remove(field)
        end

        LogStash::Util::Decorators.add_tags(@add_tag, event, "filters/#{self.class.name}")

        return if @remove_tag.empty?
        tags = event.get("tags")
        return unless tags
        tags = Array(tags)
        @remove_tag.each do |tag|
          break if tags.empty?
          tag = event.sprintf(tag)
          @logger.debug? && @logger.debug("filters/#{self.class.name}: removing tag", :tag => tag)
          tags.delete(tag)
        end
        event.set("tags", tags)
      end

      def filter?(_event)
        true
      end
    end
  end
end
