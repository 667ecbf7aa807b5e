# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Config::Mixin, the `config`
# DSL of plugins (logstash-core lib/logstash/config/mixin.rb, 8.x/9.x).
#
# What it reproduces:
#   * config :name, :validate, :default, :required, :list, :deprecated,
#     :obsolete, :attr_accessor (reader+writer unless false); Regexp names;
#   * config_init: defaults filled in BEFORE validation (so they are coerced
#     and validated too), ${VAR} substitution, unknown keys rejected,
#     :required fails on nil (or on an empty :list), values become @ivars;
#   * validators and coercions of validate_value (see below);
#   * failures raise LogStash::ConfigurationError with Logstash's generic
#     message "Something is wrong with your configuration." while the details
#     go to the plugin class's logger at :error, exactly like Logstash.
require "logstash/namespace"
require "logstash/util/password"
require "logstash/util/safe_uri"
require "logstash/util/loggable"
require "logstash/util/substitution_variables"
require "logstash_stand_in/field_reference"

module LogStash
  module Config
    module Mixin
      include LogStash::Util::SubstitutionVariables

      INVALID_SETTINGS = "Something is wrong with your configuration.".freeze

      attr_accessor :config
      attr_accessor :original_params

      def self.included(base)
        base.extend(LogStash::Config::Mixin::DSL)
      end

      def config_init(params)
        original_params = params.clone
        @plugin_type = self.class.ancestors.find { |a| a.name =~ /::Base\z/ }.config_name

        # defaults first, so that they are validated and coerced too
        self.class.get_config.each do |name, opts|
          next if params.include?(name.to_s)
          if opts.include?(:default) && (name.is_a?(Symbol) || name.is_a?(String))
            default = opts[:default]
            params[name.to_s] = case default
                                when FalseClass, TrueClass, NilClass, Numeric then default
                                else default.clone
                                end
          end
          params[name.to_s] = self.class.get_default(name) if self.class.default?(name)
        end

        # ${VAR} substitution (a Symbol key would add a key while iterating
        # and fail here, as it does in Logstash: params need String keys)
        params.each { |name, value| params[name.to_s] = deep_replace(value) }

        raise LogStash::ConfigurationError, INVALID_SETTINGS unless self.class.validate(params)

        self.class.secure_params!(original_params)
        @original_params = original_params

        original_params.each do |name, _value|
          opts = self.class.get_config[name]
          next unless opts
          if opts[:deprecated]
            extra = opts[:deprecated].is_a?(String) ? opts[:deprecated].gsub("%PLUGIN%", self.class.config_name.to_s) : ""
            logger.warn("You are using a deprecated config setting #{name.inspect} set in " \
                        "#{self.class.config_name}. Deprecated settings will continue to work, but are " \
                        "scheduled for removal from logstash in the future. #{extra} If you have any " \
                        "questions about this, please visit the #logstash channel on freenode irc.",
                        :name => name, :plugin => self)
          end
          next unless opts[:obsolete]
          extra = opts[:obsolete].is_a?(String) ? opts[:obsolete].gsub("%PLUGIN%", self.class.config_name.to_s) : ""
          raise LogStash::ConfigurationError,
                "The setting `#{name}` in plugin `#{self.class.config_name}` is obsolete and is no longer " \
                "available. #{extra} If you have any questions about this, you are invited to visit " \
                "https://discuss.elastic.co/c/logstash and ask."
        end

        # obsolete options never become ivars
        params.reject! do |name, _value|
          opts = self.class.get_config[name]
          opts && opts.include?(:obsolete)
        end

        params.each do |key, value|
          next if key[0, 1] == "@"
          logger.debug("config #{self.class.name}/@#{key} = #{value.inspect}")
          instance_variable_set("@#{key}", value)
        end

        @config = params
      end

      module DSL
        include LogStash::Util::SubstitutionVariables

        attr_accessor :flags

        def config_name(name = nil)
          @config_name = name unless name.nil?
          @config_name
        end
        alias_method :config_plugin, :config_name

        def config(name, opts = {})
          @config ||= {}
          name = name.to_s if name.is_a?(Symbol)
          @config[name] = opts
          if name.is_a?(String) && opts.fetch(:attr_accessor, true)
            define_method(name) { instance_variable_get("@#{name}") }
            define_method("#{name}=") { |v| instance_variable_set("@#{name}", v) }
          end
        end

        def default(name, value)
          @defaults ||= {}
          @defaults[name.to_s] = value
        end

        def get_config
          @config
        end

        def get_default(name)
          @defaults && @defaults[name]
        end

        def default?(name)
          !!(@defaults && @defaults.include?(name))
        end

        # A subclass starts with a copy of its parent's options.
        def inherited(subclass)
          super
          copy = {}
          (@config || {}).each { |key, value| copy[key] = value }
          subclass.instance_variable_set(:@config, copy)
        end

        def validate(params)
          @plugin_name = config_name
          @plugin_type = ancestors.find { |a| a.name =~ /::Base\z/ }.config_name
          validate_check_invalid_parameter_names(params) &&
            validate_check_required_parameter_names(params) &&
            validate_check_parameter_values(params)
        end

        def validate_check_invalid_parameter_names(params)
          unknown = params.keys.reject { |key| !validator_find(key).nil? }
          unknown.each { |name| logger.error("Unknown setting '#{name}' for #{@plugin_name}") }
          unknown.empty?
        end

        def validate_check_required_parameter_names(params)
          valid = true
          @config.each do |config_key, opts|
            next unless opts[:required]
            if config_key.is_a?(Regexp)
              valid = false unless params.keys.any? { |k| k =~ config_key }
            end
            value = params[config_key]
            next unless value.nil? || (opts[:list] && Array(value).empty?)
            logger.error("Missing a required setting for the #{@plugin_name} #{@plugin_type} plugin:\n\n" \
                         "  #{@plugin_type} {\n    #{@plugin_name} {\n      #{config_key} => # SETTING MISSING\n" \
                         "      ...\n    }\n  }")
            valid = false
          end
          valid
        end

        def validate_check_parameter_values(params)
          all_valid = true
          params.each do |key, value|
            opts = validator_find(key)
            next if opts.nil?
            valid, processed = process_parameter_value(value, opts)
            if valid
              params[key] = processed
            else
              logger.error("Invalid setting for #{@plugin_name} #{@plugin_type} plugin:\n\n" \
                           "  #{@plugin_type} {\n    #{@plugin_name} {\n      # This setting must be a " \
                           "#{opts[:validate]}\n      # #{processed}\n      #{key} => #{value.inspect}\n" \
                           "      ...\n    }\n  }")
            end
            all_valid &&= valid
          end
          all_valid
        end

        def process_parameter_value(value, opts)
          validator = opts[:validate]
          return validate_value(value, validator) unless opts[:list]
          value = Array(value)
          return [true, []] if value.empty?
          return validate_value(value, :uri_list) if validator == :uri
          results = value.map { |v| validate_value(v, validator) }
          [results.all? { |r| r[0] }, results.map { |r| r[1] }]
        end

        def validator_find(key)
          @config.each do |config_key, opts|
            return opts if (config_key.is_a?(Regexp) && key =~ config_key) ||
                           (config_key.is_a?(String) && key == config_key)
          end
          nil
        end

        # [true, coerced value] or [false, reason]. Validators:
        #   nil            anything, unchanged
        #   [a, b, ...]    exactly one value, one of those
        #   :string        one value (not type-checked, as in Logstash)
        #   :number        Numeric, or a String: "1.5" -> 1.5, "3" -> 3
        #   :boolean       true/false or "true"/"false"
        #   :array         a scalar is wrapped
        #   :hash          a Hash, or a flat [k, v, k, v] list (a repeated key collects an Array)
        #   :password      LogStash::Util::Password
        #   :uri           LogStash::Util::SafeURI (:list => true also splits on spaces)
        #   :path          must exist
        #   :bytes         Integer or "10 KiB"/"10kb"-style sizes
        #   :field_reference  valid reference; empty/nil -> nil
        #   :sha_256_hex   64 hex digits (colons allowed) -> upper-case hex
        def validate_value(value, validator)
          value = deep_replace(value)
          return [true, value] if validator.nil?

          if validator.is_a?(Array)
            value = [*value]
            if value.size > 1 || !validator.include?(value.first)
              return [false, "Expected one of #{validator.inspect}, got #{value.inspect}"]
            end
            return [true, value.first]
          end

          return [false, "Unknown validator #{validator.class}"] unless validator.is_a?(Symbol)

          value = hash_or_array(value)
          case validator
          when :hash
            return [true, value] if value.is_a?(Hash)
            return [false, "This field must contain an even number of items, got #{value.size}"] if value.size.odd?
            result = {}
            value.each_slice(2) do |key, item|
              if !result.key?(key) || result[key].nil?
                result[key] = item
              elsif result[key].is_a?(Array)
                result[key] << item
              else
                result[key] = [result[key], item]
              end
            end
            [true, result]
          when :array
            [true, value]
          when :string
            return [false, "Expected string, got #{value.inspect}"] if value.size > 1
            [true, value.first]
          when :number
            return [false, "Expected number, got #{value.inspect} (type #{value.class})"] if value.size > 1
            number = value.first
            case number
            when Numeric
              [true, number]
            when String
              if number.to_f.to_s != number && number.to_i.to_s != number
                return [false, "Expected number, got #{number.inspect} (type #{number})"]
              end
              [true, number.include?(".") ? number.to_f : number.to_i]
            else
              # Logstash lets anything else through as nil
              [true, nil]
            end
          when :boolean
            return [false, "Expected boolean, got #{value.inspect}"] if value.size > 1
            flag = value.first
            return [true, flag] if flag == true || flag == false
            textual = (flag.is_a?(String) || flag.is_a?(Symbol)) && flag.to_s =~ /^(true|false)$/
            return [false, "Expected boolean 'true' or 'false', got #{flag.inspect}"] unless textual
            [true, flag == "true"]
          when :password
            return [false, "Expected password (one value), got #{value.size} values?"] if value.size > 1
            secret = value.first
            [true, secret.is_a?(LogStash::Util::Password) ? secret : LogStash::Util::Password.new(secret)]
          when :uri
            return [false, "Expected uri (one value), got #{value.size} values?"] if value.size > 1
            begin
              [true, LogStash::Util::SafeURI.from(value.first)]
            rescue ArgumentError => e
              [false, e.message]
            end
          when :uri_list
            expanded = value.flat_map { |entry| entry.is_a?(String) ? entry.split(" ") : [entry] }
            begin
              [true, expanded.map { |entry| LogStash::Util::SafeURI.from(entry) }]
            rescue ArgumentError => e
              [false, e.message]
            end
          when :path
            return [false, "Expected path (one value), got #{value.size} values?"] if value.size > 1
            return [false, "File does not exist or cannot be opened #{value.first}"] unless File.exist?(value.first)
            [true, value.first]
          when :bytes
            parse_bytes(value.first)
          when :field_reference
            unless value.is_a?(Array) && value.size <= 1
              return [false, "Expected exactly one field reference, got `#{value.inspect}`"]
            end
            candidate = value.first
            return [true, nil] if candidate.nil? || (candidate.respond_to?(:empty?) && candidate.empty?)
            unless LogStashStandIn::FieldReference.valid?(candidate)
              return [false, "Expected a valid field reference, got `#{candidate.inspect}`"]
            end
            [true, candidate]
          when :sha_256_hex
            unless value.is_a?(Array) && value.size <= 1
              return [false, "Expected exactly one hex-encoded SHA-256 fingerprint, got `#{value.inspect}`"]
            end
            candidate = value.first
            return [true, nil] if candidate.nil? || (candidate.respond_to?(:empty?) && candidate.empty?)
            unless candidate.is_a?(String) && candidate =~ /\A(?:[[:xdigit:]]{2}:?){32}\z/
              return [false, "Expected a hex-encoded SHA-256 fingerprint, got `#{candidate.inspect}`"]
            end
            [true, candidate.upcase.tr("^0-9A-F", "")]
          else
            [false, "Unknown validator symbol #{validator}"]
          end
        end

        # The original params keep secrets wrapped (used for debug_info).
        def secure_params!(params)
          params.each do |key, value|
            opts = @config[key]
            next unless opts && [:uri, :password].include?(opts[:validate])
            _valid, processed = process_parameter_value(value, opts)
            params[key] = processed
          end
        end

        def hash_or_array(value)
          value.is_a?(Hash) ? value : [*value]
        end

        BYTE_UNITS = {
          "" => 1, "b" => 1,
          "kb" => 1000, "mb" => 1000**2, "gb" => 1000**3, "tb" => 1000**4,
          "kib" => 1024, "mib" => 1024**2, "gib" => 1024**3, "tib" => 1024**4
        }.freeze

        def parse_bytes(value)
          integer = begin
                      Integer(value)
                    rescue ArgumentError, TypeError
                      nil
                    end
          return [true, integer] if integer
          match = /\A\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*\z/.match(value.to_s)
          unit = match && BYTE_UNITS[match[2].downcase]
          if unit.nil?
            return [false, "Unparseable filesize: #{value}. possible units (KiB, MiB, ...) e.g. '10 KiB'. " \
                           "doc reference: http://www.elastic.co/guide/en/logstash/current/configuration.html#bytes"]
          end
          [true, (match[1].to_f * unit).to_i]
        end
      end
    end
  end
end
