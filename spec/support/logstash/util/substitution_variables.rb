# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Util::SubstitutionVariables:
# ${VAR} and ${VAR:default} in config values, from the environment (there is
# no keystore here).
require "logstash/namespace"
require "logstash/util/password"

module LogStash
  module Util
    module SubstitutionVariables
      SUBSTITUTION_PLACEHOLDER_REGEX = /\$\{(?<name>[a-zA-Z_.][a-zA-Z0-9_.]*)(:(?<default>[^}]*))?\}/

      # Replaces in place inside Hashes and Arrays; returns the new value.
      def deep_replace(value)
        if value.is_a?(Hash)
          value.each { |key, item| value[key.to_s] = deep_replace(item) }
        elsif value.is_a?(Array)
          value.each_index { |i| value[i] = deep_replace(value[i]) }
        else
          replace_placeholders(value)
        end
      end

      def replace_placeholders(value)
        if value.is_a?(LogStash::Util::Password)
          return LogStash::Util::Password.new(replace_placeholders(value.value))
        end
        return value unless value.is_a?(String)
        value.gsub(SUBSTITUTION_PLACEHOLDER_REGEX) do |placeholder|
          name = Regexp.last_match(:name)
          default = Regexp.last_match(:default)
          replacement = ENV.fetch(name, default)
          if replacement.nil?
            raise LogStash::ConfigurationError,
                  "Cannot evaluate `#{placeholder}`. Replacement variable `#{name}` is not defined in a " \
                  "Logstash secret store or as an Environment entry and there is no default value given."
          end
          replacement.to_s
        end
      end
    end
  end
end
