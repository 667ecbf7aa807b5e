# encoding: utf-8
# A prototype, for measurement only (bench/proto/ab.rb): two changes to
# misp_enrich's per-batch Ruby work, each behind a flag, with the same
# output as logstash-filter-misp/lib/logstash/filters/misp_enrich.rb (ab.rb
# compares every event). Written as a subclass so that the plugin as it is
# and the changed one run in one JVM, interleaved, on the same events. These
# are the proposals of docs/BENCHMARKS.md ("Proposed changes"):
#
#   decode  Native::Engine#decode: each event-metadata JSON string parsed
#           once (a bounded cache keyed by the string itself, shared by the
#           workers) instead of once per batch it appears in; integers
#           read with getbyte arithmetic instead of String#unpack with an
#           "@<pos>V" format string built per integer.
#   writer  Writer#write: when the event has no target field yet (the usual
#           case), one Event#set of the whole target Hash instead of a get
#           and a set per sub-field; [threat] likewise; the TLP of an event's
#           tags computed once per entry instead of twice.
require "logstash/filters/misp_enrich"

module MispEnrichProto
  META_LIMIT = 1_000

  # Native::Engine#lookup with the faster decode.
  module EngineExt
    META = java.util.concurrent.ConcurrentHashMap.new

    def lookup_fast(items)
      batch = encode(items)
      out, result_len, err, err_len = scratch
      with_handle do |handle|
        code = MispEnrich::Native::Functions.misp_enrich_engine_lookup(handle, batch, batch.bytesize, out, result_len,
                                                                       err, MispEnrich::Native::Engine::ERR_CAP, err_len)
        raise MispEnrich::Native.error(code, err, err_len) unless code == 7000
        decode_fast(take_buffer(out))
      end
    end

    private

    def decode_fast(buf)
      raise MispEnrich::Native::Error.new(:malformed_result, "not a result buffer") unless buf.start_with?("MER1")
      names = MispEnrich::Native.namespaces
      r = FastReader.new(buf, 4)
      slots = {}
      r.u32.times do
        slot = r.u32
        failed = r.u8 & 1 == 1
        matches = Array.new(r.u32) do
          ns = names[r.u8]
          kind = MispEnrich::Native::MATCH_KINDS[r.u8]
          value = r.str
          MispEnrich::Native::Match.new(ns, kind, value,
                                        Array.new(r.u32) { MispEnrich::Native::Entry.new(r.str, r.str) })
        end
        slots[slot] = MispEnrich::Native::SlotResult.new(matches, failed)
      end
      events = {}
      r.u32.times do
        id = r.str
        json = r.str
        parsed = META.get(json)
        unless parsed
          META.clear if META.size >= META_LIMIT
          parsed = JSON.parse(json).freeze
          META.put(json, parsed)
        end
        events[id] = parsed
      end
      MispEnrich::Native::Result.new(slots, events)
    end
  end

  class FastReader
    def initialize(buf, pos)
      @buf = buf
      @pos = pos
      @size = buf.bytesize
    end

    def u8
      raise MispEnrich::Native::Error.new(:malformed_result, "result buffer truncated") if @pos >= @size
      b = @buf.getbyte(@pos)
      @pos += 1
      b
    end

    def u32
      p = @pos
      raise MispEnrich::Native::Error.new(:malformed_result, "result buffer truncated") if p + 4 > @size
      b = @buf
      @pos = p + 4
      b.getbyte(p) | (b.getbyte(p + 1) << 8) | (b.getbyte(p + 2) << 16) | (b.getbyte(p + 3) << 24)
    end

    def str
      len = u32
      raise MispEnrich::Native::Error.new(:malformed_result, "result buffer truncated") if @pos + len > @size
      s = @buf.byteslice(@pos, len)
      @pos += len
      s.force_encoding(Encoding::UTF_8)
    end
  end

  class FastWriter < MispEnrich::Writer
    def initialize(target, misp_url, ecs)
      super
      @base = target.to_s.start_with?("[") ? target.to_s : "[#{target}]"
    end

    def write(event, matches, metadata)
      ids = []
      types = []
      urls = []
      details = []
      enrichments = []
      matches.each do |_slot, field, value, match|
        match.entries.each do |entry|
          meta = metadata[entry.event_id] || {}
          link = @misp_url && "#{@misp_url}/events/view/#{entry.event_id}"
          tlp = self.class.tlp(meta["tags"])
          ids << entry.event_id
          types << entry.type
          urls << link if link
          details << fast_detail(field, value, match, entry, meta, link, tlp)
          enrichments << fast_enrichment(field, value, match, entry, meta, link, tlp) if @ecs
        end
      end
      if event.get(@base).nil?
        target = { "event_id" => ids, "type" => types }
        target["url"] = urls unless urls.empty?
        target["matches"] = details
        event.set(@base, target)
      else
        append(event, @event_id_field, ids)
        append(event, @type_field, types)
        append(event, @url_field, urls) unless urls.empty?
        append(event, @matches_field, details)
      end
      return if enrichments.empty?
      if event.get("[threat]").nil?
        event.set("[threat]", "enrichments" => enrichments)
      else
        append(event, "[threat][enrichments]", enrichments)
      end
    end

    private

    def fast_detail(field, value, match, entry, meta, link, tlp)
      d = {
        "field" => field.name, "value" => value, "indicator" => match.value,
        "namespace" => match.namespace, "match" => match.kind.to_s,
        "event_id" => entry.event_id, "type" => entry.type
      }
      d["url"] = link if link
      %w[info threat_level org date uuid].each { |k| d[k] = meta[k] if present?(meta[k]) }
      tags = Array(meta["tags"])
      unless tags.empty?
        d["tags"] = tags
        d["tlp"] = tlp if tlp
      end
      d
    end

    def fast_enrichment(field, value, match, entry, meta, link, tlp)
      indicator = { "provider" => "MISP", "type" => ecs_type(match) }
      indicator["reference"] = link if link
      indicator["description"] = meta["info"] if present?(meta["info"])
      indicator["marking"] = { "tlp" => tlp } if tlp
      indicator.merge!(typed_fields(match))
      {
        "indicator" => indicator,
        "matched" => { "atomic" => value, "field" => field.name, "type" => "misp_enrich" },
        "misp" => { "event_id" => entry.event_id, "type" => entry.type, "tags" => Array(meta["tags"]),
                    "threat_level" => meta["threat_level"] }.reject { |_, v| v.nil? || v == [] }
      }
    end
  end
end

MispEnrich::Native::Engine.include(MispEnrichProto::EngineExt)

class LogStash::Filters::MispEnrichProto < LogStash::Filters::MispEnrich
  config_name "misp_enrich_proto"

  # Which changes are on: "decode", "writer", or both.
  config :proto_features, :validate => :string, :default => "decode writer"

  def register
    super
    features = @proto_features.split
    @fast_decode = features.include?("decode")
    return unless features.include?("writer")
    @writer = MispEnrichProto::FastWriter.new(@target, @writer.instance_variable_get(:@misp_url),
                                              @writer.instance_variable_get(:@ecs))
  end

  private

  def lookup(items)
    return super unless @fast_decode
    return Native::Result.new({}, {}) if items.empty?
    result = @engine.lookup_fast(items)
    metric.increment(:lookups, items.size)
    result
  rescue Native::Error, Native::ClosedError, ArgumentError => e
    logger.warn("misp_enrich: lookup failed", :error => e.message)
    nil
  end
end
