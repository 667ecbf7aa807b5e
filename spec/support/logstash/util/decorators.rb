# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Util::Decorators
# (add_field / add_tag of filter_matched).
require "logstash/namespace"
require "logstash/util"
require "logstash/logging/logger"

module LogStash
  module Util
    module Decorators
      module_function

      def logger
        LogStash::Logging::Logger.for("LogStash")
      end

      # fields: { name => value or [values] }; names and values are
      # sprintf'd; an existing field becomes an Array and gets the value
      # appended (read, append, set back: the Event hands out copies).
      def add_fields(fields, event, plugin_name)
        fields.each do |field, value|
          field = event.sprintf(field)
          Array(value).each do |item|
            item = event.sprintf(item)
            if event.include?(field)
              list = Array(event.get(field))
              list << item
              event.set(field, list)
            else
              event.set(field, item)
            end
            logger.debug? && logger.debug("#{plugin_name}: adding value to field", "field" => field, "value" => value)
          end
        end
      end

      # tags: sprintf'd and appended to `tags` with no de-duplication.
      def add_tags(tags, event, plugin_name)
        tags.each do |tag|
          tag = event.sprintf(tag)
          logger.debug? && logger.debug("#{plugin_name}: adding tag", "tag" => tag)
          existing = event.get("tags") || []
          existing << tag
          event.set("tags", existing)
        end
      end
    end
  end
end
