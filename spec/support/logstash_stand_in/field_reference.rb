# encoding: utf-8
# Test-only stand-in (never shipped): parsing of Logstash field references,
# modelled on the strict tokenizer of org.logstash.FieldReference (8.x/9.x,
# escape style "none"):
#
#   "foo"            top-level key, dots are literal ("a.b" is one key)
#   "[a][b]"         path a -> key b
#   "[a][0]"         array index (negative counts from the end)
#   "[@metadata][x]" lives in the event's metadata, not its data
#   "[[a]][b]"       embedded references are flattened
#
# Anything ambiguous ("[", "[]", "a[b]", "[a]b", "]") is an error whose
# message is "Invalid FieldReference: `<input>`".
module LogStashStandIn
  class FieldReference
    METADATA = "@metadata".freeze
    TIMESTAMP = "@timestamp".freeze
    TAGS = "tags".freeze

    # Raised by the parser; LogStash::Event turns it into a RuntimeError with
    # the same message, as JrubyEventExtLibrary does.
    class IllegalSyntax < StandardError; end

    attr_reader :path, :key, :type

    def initialize(path, key, type)
      @path = path.map { |p| p.dup.freeze }.freeze
      @key = key.dup.freeze
      @type = type # :data, :meta_child or :meta_parent
      freeze
    end

    def data?
      @type == :data
    end

    def timestamp?
      @type == :data && @path.empty? && @key == TIMESTAMP
    end

    def tags?
      @type == :data && @path.empty? && @key == TAGS
    end

    # "[a][b][c]"-style rendering, used in error messages.
    def canonical
      (@path + [@key]).map { |p| "[#{p}]" }.join
    end

    CACHE_LIMIT = 10_000
    @cache = {}
    @cache_lock = Mutex.new

    class << self
      # Parses (with a bounded cache) and returns a FieldReference.
      # Raises IllegalSyntax for invalid input.
      def from(reference)
        found = @cache_lock.synchronize { @cache[reference] }
        return found if found
        parsed = build(tokenize(reference))
        @cache_lock.synchronize do
          @cache[reference.dup.freeze] = parsed if @cache.size < CACHE_LIMIT
        end
        parsed
      end

      def valid?(reference)
        return false unless reference.is_a?(String)
        from(reference)
        true
      rescue IllegalSyntax
        false
      end

      private

      def build(tokens)
        raise IllegalSyntax, "Invalid FieldReference: `#{tokens}`" if tokens.empty?
        key = tokens.pop
        if tokens.empty? && key == METADATA
          new([], key, :meta_parent)
        elsif !tokens.empty? && tokens.first == METADATA
          new(tokens[1..-1], key, :meta_child)
        else
          new(tokens, key, :data)
        end
      end

      # Scans left to right keeping the bracket depth and where the current
      # fragment started; rejects any text that sits outside brackets once a
      # bracket has been seen, empty fragments, and unbalanced brackets.
      def tokenize(reference)
        tokens = []
        depth = 0
        start = 0
        seen_bracket = false
        previous = nil
        invalid = false
        index = 0
        length = reference.length
        while index < length
          char = reference[index]
          if char == "["
            seen_bracket = true
            if start != index
              invalid = true
              break
            end
            depth += 1
            start = index + 1
          elsif char == "]"
            seen_bracket = true
            if depth <= 0 || (start == index && previous != "]")
              invalid = true
              break
            end
            tokens << reference[start...index] if start < index
            depth -= 1
            start = index + 1
          elsif seen_bracket && previous == "]"
            invalid = true
            break
          end
          previous = char
          index += 1
        end

        return [reference.dup] unless seen_bracket || invalid
        invalid = true if depth > 0 || tokens.empty?
        raise IllegalSyntax, "Invalid FieldReference: `#{reference}`" if invalid
        tokens
      end
    end
  end
end
