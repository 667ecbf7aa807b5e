# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Event as Logstash 8.x/9.x
# exposes it to Ruby (org.logstash.ext.JrubyEventExtLibrary over
# org.logstash.Event, Accessors, FieldReference, Valuefier, Rubyfier,
# StringInterpolation). See spec/stand_in/ for the behaviour it promises.
require "logstash/namespace"
require "logstash/timestamp"
require "logstash/json"
require "logstash_stand_in/field_reference"
require "logstash_stand_in/values"

module LogStash
  class Event
    METADATA = "@metadata".freeze
    TIMESTAMP = "@timestamp".freeze
    VERSION = "@version".freeze
    VERSION_ONE = "1".freeze
    TAGS = "tags".freeze
    TIMESTAMP_FAILURE_TAG = "_timestampparsefailure".freeze
    TIMESTAMP_FAILURE_FIELD = "_@timestamp".freeze
    TAGS_FAILURE_TAG = "_tagsparsefailure".freeze
    TAGS_FAILURE_FIELD = "_tags".freeze

    # Hash/Array paths of the event, with the semantics of org.logstash.Accessors.
    module Accessors
      module_function

      def get(data, ref)
        parent = find_parent(data, ref)
        parent.nil? ? nil : fetch(parent, ref.key)
      end

      def set(data, ref, value)
        set_child(find_create_target(data, ref), ref.key, value)
      end

      def del(data, ref)
        parent = find_parent(data, ref)
        case parent
        when Hash then parent.delete(ref.key)
        when Array
          index = list_index(ref.key, parent.size)
          index.nil? || index < 0 || index >= parent.size ? nil : parent.delete_at(index)
        end
      end

      def includes?(data, ref)
        parent = find_parent(data, ref)
        case parent
        when Hash then parent.key?(ref.key)
        when Array then !fetch(parent, ref.key).nil?
        else false
        end
      end

      def find_parent(data, ref)
        target = data
        ref.path.each do |key|
          target = fetch(target, key)
          return nil unless target.is_a?(Hash) || target.is_a?(Array)
        end
        target
      end

      def find_create_target(data, ref)
        target = data
        creating = false
        ref.path.each do |key|
          if creating
            child = {}
            target[key] = child
          else
            unless target.is_a?(Hash) || target.is_a?(Array)
              # Java: ClassCastException while walking through a scalar.
              raise LogStashStandIn::InvalidFieldSetException.new(target, key, nil)
            end
            child = fetch(target, key)
            if child.nil?
              creating = true
              child = {}
              set_child(target, key, child)
            end
          end
          target = child
        end
        target
      end

      def set_child(target, key, value)
        case target
        when Hash
          target[key] = value
        when Array
          set_on_list(target, key, value)
        else
          raise LogStashStandIn::InvalidFieldSetException.new(target, key, value)
        end
      end

      # Non-numeric keys on a list are ignored (nothing is set); an index past
      # the end pads the list with nils; negative indexes count from the end.
      def set_on_list(list, key, value)
        index = parse_int(key)
        return nil if index.nil?
        size = list.size
        if index >= size
          list.fill(nil, size, index - size) if index > size
          list << value
        else
          position = index < 0 ? size + index : index
          if position < 0
            raise LogStashStandIn::IndexOutOfBoundsException, "Index #{position} out of bounds for length #{size}"
          end
          list[position] = value
        end
        value
      end

      def fetch(target, key)
        if target.is_a?(Hash)
          target[key]
        else
          index = list_index(key, target.size)
          return nil if index.nil? || index < 0 || index >= target.size
          target[index]
        end
      end

      def list_index(key, size)
        index = parse_int(key)
        return nil if index.nil?
        index < 0 ? size + index : index
      end

      # java.lang.Integer.parseInt: optional sign, decimal digits, 32-bit.
      def parse_int(key)
        return nil unless key =~ /\A[+-]?\d+\z/
        value = key.to_i
        value.between?(-2_147_483_648, 2_147_483_647) ? value : nil
      end
    end

    # Events built from a Hash (keys may be Strings or anything with to_s),
    # nil, or nothing.
    def initialize(data = nil)
      case data
      when nil
        @data = {}
      when Hash
        @data = LogStashStandIn::Values.valuefy(data)
      else
        raise TypeError, "wrong argument type #{data.class} (expected Hash)"
      end
      @cancelled = false
      @data[VERSION] = VERSION_ONE.dup unless @data.key?(VERSION)
      if @data.key?(METADATA)
        metadata = @data.delete(METADATA)
        raise TypeError, "@metadata must be a Hash, got #{metadata.class}" unless metadata.is_a?(Hash)
        @metadata = metadata
      else
        @metadata = {}
      end
      guard_initial_tags
      init_timestamp
    end

    def get(reference)
      ref = field_reference(reference)
      LogStashStandIn::Values.rubyfy(unconverted(ref))
    end

    def set(reference, value)
      ref = field_reference(reference)
      if ref.timestamp?
        unless value.is_a?(LogStash::Timestamp)
          raise TypeError, "wrong argument type #{value.class} (expected LogStash::Timestamp)"
        end
        @data[TIMESTAMP] = value
        return value
      end
      converted = LogStashStandIn::Values.valuefy(value)
      if (ref.tags? && !legal_tags?(converted)) || (!ref.path.empty? && ref.path.first == TAGS)
        raise LogStashStandIn::InvalidTagsTypeException.new(ref, converted)
      end
      case ref.type
      when :meta_parent
        raise TypeError, "@metadata must be a Hash, got #{value.class}" unless converted.is_a?(Hash)
        @metadata = converted
      when :meta_child
        Accessors.set(@metadata, ref, converted)
      else
        Accessors.set(@data, ref, converted)
      end
      value
    end

    def remove(reference)
      ref = field_reference(reference)
      removed = case ref.type
                when :meta_parent
                  old = @metadata
                  @metadata = {}
                  old
                when :meta_child
                  Accessors.del(@metadata, ref)
                else
                  Accessors.del(@data, ref)
                end
      LogStashStandIn::Values.rubyfy(removed)
    end

    def include?(reference)
      ref = field_reference(reference)
      case ref.type
      when :meta_parent then true
      when :meta_child then Accessors.includes?(@metadata, ref)
      else Accessors.includes?(@data, ref)
      end
    end

    # Adds a tag once; turns a scalar `tags` into a list.
    def tag(value)
      raise TypeError, "wrong argument type #{value.class} (expected String)" unless value.is_a?(String)
      tags_ref = LogStashStandIn::FieldReference.from(TAGS)
      existing = Accessors.get(@data, tags_ref)
      if existing.nil?
        Accessors.set(@data, tags_ref, [value.dup])
      else
        list = existing.is_a?(Array) ? existing.map { |t| t.is_a?(String) ? t.dup : t } : [existing.dup]
        unless list.include?(value)
          list << value.dup
          Accessors.set(@data, tags_ref, list)
        end
      end
      nil
    end

    def cancel
      @cancelled = true
    end

    def uncancel
      @cancelled = false
    end

    def cancelled?
      @cancelled
    end

    # Deep copy, data and metadata; the copy is never cancelled.
    def clone
      copy = self.class.allocate
      copy.__send__(:init_from_clone,
                    LogStashStandIn::Values.clone_tree(@data),
                    LogStashStandIn::Values.clone_tree(@metadata))
      copy
    end

    # Deep copy of the data, without @metadata.
    def to_hash
      LogStashStandIn::Values.rubyfy(@data)
    end

    # Deep copy of the data plus "@metadata" when the metadata is not empty.
    def to_hash_with_metadata
      result = LogStashStandIn::Values.clone_tree(@data)
      result[METADATA] = LogStashStandIn::Values.rubyfy(@metadata) unless @metadata.empty?
      result
    end

    def to_json(*_args)
      LogStashStandIn::Values.to_json(@data)
    end

    def timestamp
      @data[TIMESTAMP]
    end

    def timestamp=(value)
      unless value.is_a?(LogStash::Timestamp)
        raise TypeError, "wrong argument type #{value.class} (expected LogStash::Timestamp)"
      end
      @data[TIMESTAMP] = value
    end

    # %{[field][ref]} interpolation, as org.logstash.StringInterpolation.
    def sprintf(format)
      template = format.to_s
      open = template.index("%{")
      close = open && template.index("}", open)
      return template.dup if open.nil? || close.nil?
      out = +""
      position = 0
      length = template.length
      while open && close
        out << template[position...open]
        inner = template[(open + 2)...close]
        if "+%s".start_with?(inner)
          # UNIX epoch seconds; Java's regionMatches also accepts any prefix
          # of "+%s", including the empty `%{}`.
          stamp = timestamp
          out << (stamp ? stamp.to_i.to_s : "")
        elsif template[open + 2] == "{" && template[close + 1] == "}"
          close += 1
          stamp = timestamp
          out << LogStashStandIn::DatePattern.format(stamp.time, template[(open + 3)...(close - 1)]) if stamp
        elsif template[open + 2] == "+"
          stamp = timestamp
          out << LogStashStandIn::DatePattern.format(stamp.time, template[(open + 3)...close]) if stamp
        else
          value = unconverted(field_reference(inner))
          if value.nil?
            out << "%{" << inner << "}"
          elsif value.is_a?(Array)
            out << LogStashStandIn::Values.join_list(value, ",")
          elsif value.is_a?(Hash)
            out << LogStashStandIn::Values.to_json(value)
          else
            out << LogStashStandIn::Values.scalar_to_s(value)
          end
        end
        position = close + 1
        open = template.index("%{", position)
        close = open && template.index("}", open)
      end
      out << template[position...length] if position < length
      out
    end

    def to_s
      host = unconverted(field_reference("host"))
      message = unconverted(field_reference("message"))
      text = "#{host.nil? ? '%{host}' : LogStashStandIn::Values.java_to_s(host)} " \
             "#{message.nil? ? '%{message}' : LogStashStandIn::Values.java_to_s(message)}"
      stamp = timestamp
      stamp ? "#{stamp} #{text}" : text
    end

    def [](_reference)
      raise NoMethodError, "Direct event field references (i.e. event['field']) have been disabled in favor " \
                           "of using event get and set methods (e.g. event.get('field')). Please consult the " \
                           "Logstash 5.0 breaking changes documentation for more details."
    end

    def []=(_reference, _value)
      raise NoMethodError, "Direct event field references (i.e. event['field'] = 'value') have been disabled in " \
                           "favor of using event get and set methods (e.g. event.set('field', 'value')). Please " \
                           "consult the Logstash 5.0 breaking changes documentation for more details."
    end

    # JSON object -> [event], JSON array -> events, blank -> [].
    def self.from_json(json)
      raise TypeError, "no implicit conversion of #{json.class} into String" unless json.is_a?(String)
      return [] if json.strip.empty?
      parsed = begin
                 JSON.parse(json)
               rescue JSON::ParserError => e
                 raise LogStash::Json::ParserError, e.message
               end
      case parsed
      when Hash then [new(parsed)]
      when Array then parsed.map { |item| new(item) }
      else raise LogStash::Json::ParserError, "incompatible json object type=#{parsed.class}, only hash map or arrays are supported"
      end
    end

    private

    def init_from_clone(data, metadata)
      @data = data
      @metadata = metadata
      @cancelled = false
      guard_initial_tags
      init_timestamp
    end

    # Ruby-facing methods take a String reference; the parse error surfaces
    # as a plain RuntimeError (JrubyEventExtLibrary#extractFieldReference).
    def field_reference(reference)
      raise TypeError, "wrong argument type #{reference.class} (expected String)" unless reference.is_a?(String)
      LogStashStandIn::FieldReference.from(reference)
    rescue LogStashStandIn::FieldReference::IllegalSyntax => e
      raise RuntimeError, e.message
    end

    def unconverted(ref)
      case ref.type
      when :meta_parent then @metadata
      when :meta_child then Accessors.get(@metadata, ref)
      else Accessors.get(@data, ref)
      end
    end

    def legal_tags?(value)
      value.nil? || value.is_a?(String) || (value.is_a?(Array) && value.all? { |v| v.is_a?(String) })
    end

    # A `tags` value that is neither a String nor a list of Strings is moved
    # to `_tags` and the event is tagged `_tagsparsefailure`.
    def guard_initial_tags
      tags = @data[TAGS]
      return if legal_tags?(tags)
      @data[TAGS_FAILURE_FIELD] = [tags]
      @data[TAGS] = [TAGS_FAILURE_TAG.dup]
    end

    def init_timestamp
      provided = @data[TIMESTAMP]
      parsed = case provided
               when nil then LogStash::Timestamp.now
               when LogStash::Timestamp then provided
               when String, Symbol
                 begin
                   LogStash::Timestamp.parse_iso8601(provided.to_s)
                 rescue LogStash::TimestampParserError
                   nil
                 end
               end
      if parsed
        @data[TIMESTAMP] = parsed
      else
        @data[TIMESTAMP] = LogStash::Timestamp.now
        tag(TIMESTAMP_FAILURE_TAG)
        @data[TIMESTAMP_FAILURE_FIELD] = provided
      end
    end
  end
end
