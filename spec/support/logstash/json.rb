# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Json (load/dump with
# LogStash::Json::ParserError / GeneratorError).
require "json"
require "logstash/namespace"

module LogStash
  module Json
    class ParserError < ::StandardError; end
    class GeneratorError < ::StandardError; end

    module_function

    def load(data, _options = {})
      raise ParserError, "cannot parse nil" if data.nil?
      return nil if data.to_s.strip.empty?
      JSON.parse(data)
    rescue JSON::ParserError => e
      raise ParserError, e.message
    end

    def dump(object, options = {})
      options[:pretty] ? JSON.pretty_generate(object) : JSON.generate(object)
    rescue JSON::GeneratorError => e
      raise GeneratorError, e.message
    end
  end
end
