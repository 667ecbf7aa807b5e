# encoding: utf-8
# Test-only stand-in (never shipped): how values enter and leave a
# LogStash::Event, modelled on org.logstash.Valuefier (set), Rubyfier (get),
# Cloner (clone) and the Java toString/Jackson rendering used by sprintf.
#
# Every walk over a Hash/Array tree is iterative: JRuby 9.3 in interpreted
# mode dies (it does not raise) at a few thousand levels of Ruby recursion,
# and events built from attacker-controlled JSON can be that deep.
require "bigdecimal"
require "json"

module LogStashStandIn
  module Values
    module_function

    # Converts a value handed to Event#set / Event.new into its stored form.
    # Strings are stored as the very same object (Valuefier's identity
    # converter); Hash/Array become fresh containers; Hash keys go through
    # to_s; Time becomes LogStash::Timestamp; anything else is rejected.
    def valuefy(value)
      transform(value, :valuefy)
    end

    # What Event#get / #remove / #to_hash hand out: fresh containers, the
    # stored leaves themselves (so a String can be mutated in place).
    def rubyfy(value)
      transform(value, :rubyfy)
    end

    # Event#clone: fresh containers and fresh String copies.
    def clone_tree(value)
      transform(value, :clone)
    end

    def container?(value)
      value.is_a?(Hash) || value.is_a?(Array)
    end

    # Trees up to FAST_DEPTH levels (every event in practice) are converted
    # by plain recursion, several times quicker than the walk below, which
    # takes over for deeper trees and cycles (and raises on a cycle): both
    # visit in the same order, so the same first error comes out of either.
    FAST_DEPTH = 32
    TOO_DEEP = Object.new.freeze

    def transform(root, mode)
      return leaf(root, mode) unless container?(root)
      converted = shallow(root, mode, 0)
      converted.equal?(TOO_DEEP) ? walk(root, mode) : converted
    end

    def shallow(value, mode, depth)
      return TOO_DEEP if depth > FAST_DEPTH
      if value.is_a?(Hash)
        out = {}
        value.each do |key, child|
          converted = container?(child) ? shallow(child, mode, depth + 1) : leaf(child, mode)
          return TOO_DEEP if converted.equal?(TOO_DEEP)
          out[hash_key(key)] = converted
        end
      else
        out = []
        value.each do |child|
          converted = container?(child) ? shallow(child, mode, depth + 1) : leaf(child, mode)
          return TOO_DEEP if converted.equal?(TOO_DEEP)
          out << converted
        end
      end
      out
    end

    def walk(root, mode)
      out_root = root.is_a?(Hash) ? {} : []
      # The containers on the current path (a cycle check, not a "seen" set:
      # a container met twice off the path is copied twice, as Valuefier
      # does). Keyed by identity: keying by content would hash whole subtrees
      # (Array#hash recurses, so a deep tree overflows the stack), and keying
      # by an identity hash code (an Integer) would take two containers whose
      # codes collide for the same one. spec/stand_in/values_spec.rb has both.
      active = {}.compare_by_identity
      active[root] = true
      stack = [[root, out_root, root.is_a?(Hash) ? root.to_a : root, 0]]
      until stack.empty?
        frame = stack.last
        source, out, items, position = frame
        if position >= items.size
          stack.pop
          active.delete(source)
          next
        end
        frame[3] = position + 1
        if out.is_a?(Hash)
          key, child = items[position]
          key = hash_key(key)
        else
          child = items[position]
        end
        if container?(child)
          if active.key?(child)
            # Valuefier recurses in Java; a cycle ends in StackOverflowError,
            # which JRuby surfaces as SystemStackError.
            raise SystemStackError, "stack level too deep (self-referencing #{child.class} given to LogStash::Event)"
          end
          converted = child.is_a?(Hash) ? {} : []
          active[child] = true
          stack.push([child, converted, child.is_a?(Hash) ? child.to_a : child, 0])
        else
          converted = leaf(child, mode)
        end
        if out.is_a?(Hash)
          out[key] = converted
        else
          out << converted
        end
      end
      out_root
    end

    def hash_key(key)
      key = key.to_s unless key.is_a?(String)
      key.frozen? ? key : key.dup.freeze
    end

    def leaf(value, mode)
      case mode
      when :valuefy then valuefy_leaf(value)
      when :clone then value.is_a?(String) ? value.dup : value
      else value
      end
    end

    def valuefy_leaf(value)
      case value
      when String, Symbol, Integer, Float, BigDecimal, true, false, nil, LogStash::Timestamp
        value
      when Time
        LogStash::Timestamp.new(value)
      else
        raise LogStashStandIn::MissingConverterException.new(value)
      end
    end

    # ---- rendering (sprintf, to_s, to_json) --------------------------------

    # Java's Double.toString (1.0E20, 1.0E-4), which is what Logstash prints.
    def float_to_s(value)
      if defined?(JRUBY_VERSION)
        java.lang.Double.toString(value)
      else
        ruby_float_to_java_s(value)
      end
    end

    def ruby_float_to_java_s(value)
      return value.to_s if value.nan? || value.infinite?
      abs = value.abs
      return value.to_s if abs.zero? || (abs >= 1e-3 && abs < 1e7)
      # Ruby's shortest round-trip digits, re-laid out as d.dddE<exp>.
      text = abs.to_s
      if text.include?("e")
        mantissa, exponent = text.split("e")
        digits = mantissa.delete(".")
        exponent = exponent.to_i
      else
        int_part, frac_part = text.split(".")
        all = int_part + frac_part.to_s
        first = all.index(/[1-9]/)
        digits = all[first..-1]
        exponent = int_part.length - 1 - first
      end
      digits = digits.sub(/0+\z/, "")
      digits = "0" if digits.empty?
      fraction = digits[1..-1]
      fraction = "0" if fraction.nil? || fraction.empty?
      (value < 0 ? "-" : "") + digits[0] + "." + fraction + "E" + exponent.to_s
    end

    def big_decimal_to_s(value)
      if defined?(JRUBY_VERSION)
        java.math.BigDecimal.new(value.to_s("F")).toString
      else
        value.to_s("F")
      end
    end

    # Scalar rendering as Java's toString would print the Javafied value.
    def scalar_to_s(value)
      case value
      when nil then "null"
      when Float then float_to_s(value)
      when BigDecimal then big_decimal_to_s(value)
      else value.to_s
      end
    end

    # Java toString of a Javafied value: Lists as "[a, b]", Maps as "{k=v}".
    def java_to_s(value)
      return scalar_to_s(value) unless container?(value)
      out = +""
      # Work list of either [:value, v] or [:text, s].
      work = [[:value, value]]
      until work.empty?
        kind, item = work.pop
        if kind == :text
          out << item
        elsif item.is_a?(Hash)
          parts = [[:text, "{"]]
          item.each_with_index do |(k, v), i|
            parts << [:text, ", "] if i > 0
            parts << [:text, "#{k}="] << [:value, v]
          end
          parts << [:text, "}"]
          work.concat(parts.reverse)
        elsif item.is_a?(Array)
          parts = [[:text, "["]]
          item.each_with_index do |v, i|
            parts << [:text, ", "] if i > 0
            parts << [:value, v]
          end
          parts << [:text, "]"]
          work.concat(parts.reverse)
        else
          out << scalar_to_s(item)
        end
      end
      out
    end

    # KeyNode.join: nested lists are flattened with the same delimiter,
    # nulls render as "", anything else with its Java toString.
    def join_list(list, delimiter)
      out = +""
      first = true
      work = list.reverse
      until work.empty?
        item = work.pop
        if item.is_a?(Array)
          if item.empty?
            # join([]) is "", still one element between delimiters
            out << delimiter unless first
            first = false
          else
            # join of a nested list equals its items spliced in place
            work.concat(item.reverse)
          end
          next
        end
        out << delimiter unless first
        first = false
        out << (item.nil? ? "" : java_to_s(item))
      end
      out
    end

    # Jackson-like JSON (numbers as Java prints them, Timestamps as ISO8601
    # strings, Symbols as strings). Iterative, like everything here.
    def to_json(value)
      out = +""
      work = [[:value, value]]
      until work.empty?
        kind, item = work.pop
        if kind == :text
          out << item
        elsif item.is_a?(Hash)
          parts = [[:text, "{"]]
          item.each_with_index do |(k, v), i|
            parts << [:text, ","] if i > 0
            parts << [:text, k.to_s.to_json + ":"] << [:value, v]
          end
          parts << [:text, "}"]
          work.concat(parts.reverse)
        elsif item.is_a?(Array)
          parts = [[:text, "["]]
          item.each_with_index do |v, i|
            parts << [:text, ","] if i > 0
            parts << [:value, v]
          end
          parts << [:text, "]"]
          work.concat(parts.reverse)
        else
          out << json_scalar(item)
        end
      end
      out
    end

    def json_scalar(value)
      case value
      when nil then "null"
      when true, false then value.to_s
      when Integer then value.to_s
      when Float then float_to_s(value)
      when BigDecimal then big_decimal_to_s(value)
      when String then value.to_json
      else value.to_s.to_json
      end
    end
  end
end
