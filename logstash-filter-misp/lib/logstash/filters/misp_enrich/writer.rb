# encoding: utf-8
# Writes the matches of one event onto it. The first two fields are exactly
# what the seed's process_ioc.rb wrote, so existing dashboards keep working:
#
#   [misp][event_id]  ["42", "43"]        one element per event_id#type entry,
#   [misp][type]      ["domain", "ip-dst"] in field order, then stored order
#
# and then what the seed could not give:
#
#   [misp][url]       ["https://misp.example.org/events/view/42", ...] (with misp_url)
#   [misp][matches]   one Hash per entry: field, value, indicator, namespace,
#                     match kind, event_id, type, and the MISP event's info,
#                     threat level, org, TLP and tags when misp-load stored them
#
# With ECS compatibility on, each entry is also a `[threat][enrichments]`
# element (ECS threat field set: indicator.*, matched.*).

module MispEnrich
  class Writer
    # ECS indicator.type by namespace.
    ECS_TYPES = {
      "domain" => "domain-name", "url" => "url", "email" => "email-addr",
      "regkey" => "windows-registry-key", "mutex" => "mutex",
      "x509-sha1" => "x509-certificate", "x509-sha256" => "x509-certificate", "x509-md5" => "x509-certificate",
      "ja3" => "software", "jarm" => "software", "hassh" => "software", "user-agent" => "software",
      "named-pipe" => "artifact"
    }.freeze
    FILE_HASHES = %w[md5 sha1 sha224 sha256 sha384 sha512 ssdeep tlsh].freeze
    THREAT_FIELDS = { "enrichments" => "[threat][enrichments]" }.freeze
    EMPTY = {}.freeze

    # target: the result field (`misp`, or a reference like `[threat][misp]`);
    # misp_url: base URL for links, or nil; ecs: whether to write threat.enrichments.
    def initialize(target, misp_url, ecs)
      @target = target.to_s.start_with?("[") ? target.to_s : "[#{target}]"
      @fields = Hash[%w[event_id type url matches].map { |name| [name, "#{@target}[#{name}]"] }]
      @misp_url = misp_url
      @ecs = ecs
    end

    # matches: Array of [slot, field (FieldMap::Field), log value, Native::Match],
    # in slot order; metadata: { event id => Hash } from the engine.
    def write(event, matches, metadata)
      ids = []
      types = []
      urls = []
      details = []
      enrichments = []
      matches.each do |_slot, field, value, match|
        match.entries.each do |entry|
          meta = metadata[entry.event_id] || EMPTY
          link = @misp_url && "#{@misp_url}/events/view/#{entry.event_id}"
          tlp = self.class.tlp(meta["tags"])
          ids << entry.event_id
          types << entry.type
          urls << link if link
          details << detail(field, value, match, entry, meta, link, tlp)
          enrichments << enrichment(field, value, match, entry, meta, link, tlp) if @ecs
        end
      end
      written = { "event_id" => ids, "type" => types }
      written["url"] = urls unless urls.empty?
      written["matches"] = details
      put(event, @target, @fields, written)
      put(event, "[threat]", THREAT_FIELDS, "enrichments" => enrichments) unless enrichments.empty?
    end

    # The TLP level of a tag list, as ECS writes it (`tlp:amber+strict` → `AMBER+STRICT`).
    def self.tlp(tags)
      tag = Array(tags).find { |t| t.to_s.downcase.start_with?("tlp:") }
      tag && tag.to_s[4..-1].strip.upcase
    end

    private

    # Writes `values` (name => Array) under `parent`: in one set when the
    # event has no such field yet (the usual case), else appended field by
    # field (`fields`: name => reference) to what is there.
    def put(event, parent, fields, values)
      if event.include?(parent)
        values.each { |name, list| append(event, fields.fetch(name), list) }
      else
        event.set(parent, values)
      end
    end

    # Appends to an array field, as process_ioc.rb did (an existing scalar
    # becomes the first element).
    def append(event, field, values)
      current = event.get(field)
      current = current.nil? ? [] : Array(current)
      event.set(field, current + values)
    end

    def detail(field, value, match, entry, meta, link, tlp)
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

    def enrichment(field, value, match, entry, meta, link, tlp)
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

    def ecs_type(match)
      return (match.value.include?(":") ? "ipv6-addr" : "ipv4-addr") if match.namespace == "ip"
      return "file" if FILE_HASHES.include?(match.namespace) || %w[imphash authentihash].include?(match.namespace)
      ECS_TYPES.fetch(match.namespace, "artifact")
    end

    def typed_fields(match)
      ns = match.namespace
      v = match.value
      case ns
      when "ip" then match.kind == :range ? { "name" => v } : { "ip" => v }
      when "domain" then { "url" => { "domain" => v } }
      when "url" then { "url" => { "full" => v } }
      when "email" then { "email" => { "address" => v } }
      when "regkey" then { "registry" => { "path" => v } }
      when "imphash" then { "file" => { "pe" => { "imphash" => v } } }
      when *FILE_HASHES then { "file" => { "hash" => { ns => v } } }
      else { "name" => v }
      end
    end

    def present?(v)
      !(v.nil? || (v.respond_to?(:empty?) && v.empty?))
    end
  end
end
