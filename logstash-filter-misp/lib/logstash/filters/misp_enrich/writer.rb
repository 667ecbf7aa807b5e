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
# element (ECS threat field set: indicator.*, matched.*), holding only fields
# of the ECS version in use: v1 (1.12+) or v8, which adds
# indicator.marking.tlp_version, indicator.name and the sha384/tlsh hashes.
# A hash with no ECS field (sha224, ...) gets none: the value stays in
# matched.atomic and [misp][matches].

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
    # Hash namespaces indicator.type `file` covers (MISP's file hashes).
    FILE_HASHES = %w[md5 sha1 sha224 sha256 sha384 sha512 ssdeep tlsh imphash authentihash].freeze
    # The `hash.*` fields of ECS, per version.
    ECS_HASHES = {
      v1: %w[md5 sha1 sha256 sha512 ssdeep].freeze,
      v8: %w[md5 sha1 sha256 sha384 sha512 ssdeep tlsh].freeze
    }.freeze
    # ECS's allowed indicator.marking.tlp values, per version.
    ECS_TLP = { v1: %w[WHITE GREEN AMBER RED].freeze,
                v8: %w[WHITE CLEAR GREEN AMBER AMBER+STRICT RED].freeze }.freeze
    THREAT_FIELDS = { "enrichments" => "[threat][enrichments]" }.freeze
    EMPTY = {}.freeze

    # target: the result field (`misp`, or a reference like `[threat][misp]`);
    # misp_url: base URL for links, or nil; ecs: the plugin's
    # ecs_compatibility (:disabled writes no threat.enrichments; :v1, :v8).
    def initialize(target, misp_url, ecs)
      @target = target.to_s.start_with?("[") ? target.to_s : "[#{target}]"
      @fields = Hash[%w[event_id type url matches].map { |name| [name, "#{@target}[#{name}]"] }]
      @misp_url = misp_url
      @ecs = ecs == :disabled ? nil : (ecs == :v1 ? :v1 : :v8)
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
      # Check both places before writing either, so an event that cannot
      # take the result is left as it was.
      writable!(event, @target)
      writable!(event, "[threat]") unless enrichments.empty?
      put(event, @target, @fields, written)
      put(event, "[threat]", THREAT_FIELDS, "enrichments" => enrichments) unless enrichments.empty?
    end

    # Raised when a field on the way to where results go holds a value that
    # is not an object (e.g. `[misp]` is a string).
    class NotWritable < StandardError; end

    # The TLP level of a tag list, as ECS writes it (`tlp:amber+strict` → `AMBER+STRICT`).
    def self.tlp(tags)
      tag = Array(tags).find { |t| t.to_s.downcase.start_with?("tlp:") }
      tag && tag.to_s[4..-1].strip.upcase
    end

    private

    def writable!(event, reference)
      path = reference.scan(/\[([^\[\]]+)\]/).flatten
      path.each_index do |i|
        prefix = path[0..i].map { |p| "[#{p}]" }.join
        value = event.get(prefix)
        return if value.nil?
        raise NotWritable, "#{prefix} holds a #{value.class}, not an object" unless value.is_a?(Hash)
      end
    end

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
      indicator["first_seen"] = meta["date"] if present?(meta["date"])
      marking = marking(tlp)
      indicator["marking"] = marking if marking
      indicator.merge!(typed_fields(match))
      {
        "indicator" => indicator,
        "matched" => { "atomic" => atomic(field, value, match), "field" => field.name, "type" => "misp_enrich" },
        "misp" => { "event_id" => entry.event_id, "type" => entry.type, "tags" => Array(meta["tags"]),
                    "threat_level" => meta["threat_level"] }.reject { |_, v| v.nil? || v == [] }
      }
    end

    # The atomic value that matched: what the log held, except for Sysmon's
    # `Hashes` string, where it is the one hash that matched.
    def atomic(field, value, match)
      field.namespace == "hashes" ? match.value : value
    end

    # indicator.marking from a TLP level, when the ECS version allows it.
    # TLP:WHITE exists only in TLP 1.0, CLEAR and AMBER+STRICT only in 2.0;
    # MISP's tlp taxonomy is TLP 2.0, which kept GREEN, AMBER and RED. ECS v1
    # knows TLP 1.0's levels only: CLEAR is written as WHITE (the same
    # level), AMBER+STRICT is left out (AMBER would share it more widely).
    def marking(tlp)
      return nil unless tlp
      tlp = "WHITE" if @ecs == :v1 && tlp == "CLEAR"
      return nil unless ECS_TLP.fetch(@ecs).include?(tlp)
      return { "tlp" => tlp } if @ecs == :v1
      { "tlp" => tlp, "tlp_version" => tlp == "WHITE" ? "1.0" : "2.0" }
    end

    def ecs_type(match)
      return (match.value.include?(":") ? "ipv6-addr" : "ipv4-addr") if match.namespace == "ip"
      return "file" if FILE_HASHES.include?(match.namespace)
      ECS_TYPES.fetch(match.namespace, "artifact")
    end

    # The typed indicator.* field of a match, when ECS has one in this
    # version; indicator.name (ECS 8.7+) otherwise, on v8 only.
    def typed_fields(match)
      ns = match.namespace
      v = match.value
      case ns
      when "ip" then match.kind == :range ? name_field(v) : { "ip" => v }
      when "domain" then { "url" => { "domain" => v } }
      when "url" then { "url" => { "full" => v } }
      when "email" then { "email" => { "address" => v } }
      when "regkey" then { "registry" => { "path" => v } }
      when "imphash" then { "file" => { "pe" => { "imphash" => v } } }
      else
        ECS_HASHES.fetch(@ecs).include?(ns) ? { "file" => { "hash" => { ns => v } } } : name_field(v)
      end
    end

    def name_field(value)
      @ecs == :v8 ? { "name" => value } : {}
    end

    def present?(v)
      !(v.nil? || (v.respond_to?(:empty?) && v.empty?))
    end
  end
end
