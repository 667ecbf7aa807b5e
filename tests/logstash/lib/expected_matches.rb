# encoding: utf-8
# Why this file exists: the end-to-end tests must know, independently of the
# plugin and of misp-load, which sample events a MISP fixture (the JSON that
# misp-sim serves, e.g. examples/demo/misp-fixture.json) should enrich. This
# is that rule, in plain Ruby, from the seed's table and docs/indicators.md:
#
# - only IDS-flagged attributes (to_ids true) count;
# - namespaces: domain/hostname -> domain; ip-src/ip-dst (a CIDR value is a
#   range), ip-src|port/ip-dst|port (the IP), domain|ip (both parts) -> ip;
#   md5/sha1/sha256/sha512/imphash and filename|<hash> (the hash) -> that
#   hash; url -> url; other types are not looked up here;
# - hashes compare in lower case, IPs as addresses, domains in lower case
#   without a trailing dot and also match on their parent domains
#   (domain_match => suffix, the default).
#
# ExpectedMatches#for(event, fields) -> sorted [field, MISP event id, MISP type]
# triples, one per attribute that the event's field values match.
require "json"
require "ipaddr"

class ExpectedMatches
  HASHES = %w[md5 sha1 sha256 sha512 imphash].freeze

  def initialize(fixture_path)
    @exact = Hash.new { |h, k| h[k] = [] } # [namespace, value] => [[event id, type]]
    @ranges = []                           # [IPAddr, event id, type]
    attributes = JSON.parse(File.read(fixture_path)).fetch("response").fetch("Attribute")
    attributes.each { |a| add(a) if a["to_ids"] }
  end

  # fields: { field reference => namespace }
  def for(event, fields)
    fields.flat_map do |reference, namespace|
      values(event, reference).flat_map do |v|
        lookup(namespace, v.to_s).map { |id, type| [reference, id, type] }
      end
    end.sort
  end

  # The values of a field reference like "[dns][resolved_ip]" (array or not).
  def values(event, reference)
    value = reference.scan(/\[([^\]]+)\]/).flatten.reduce(event) { |h, k| h.is_a?(Hash) ? h[k] : nil }
    value.nil? ? [] : Array(value)
  end

  private

  def add(attribute)
    type = attribute["type"]
    id = attribute["event_id"].to_s
    value = attribute["value"].to_s
    first, second = value.split("|", 2)
    case type
    when "domain", "hostname" then @exact[["domain", domain(value)]] << [id, type]
    when "ip-src", "ip-dst"
      if value.include?("/")
        @ranges << [IPAddr.new(value), id, type]
      else
        @exact[["ip", IPAddr.new(value).to_s]] << [id, type]
      end
    when "ip-src|port", "ip-dst|port" then @exact[["ip", IPAddr.new(first).to_s]] << [id, type]
    when "domain|ip"
      @exact[["domain", domain(first)]] << [id, type]
      @exact[["ip", IPAddr.new(second).to_s]] << [id, type]
    when *HASHES then @exact[[type, value.downcase]] << [id, type]
    when *HASHES.map { |h| "filename|#{h}" } then @exact[[type.split("|").last, second.downcase]] << [id, type]
    when "url" then @exact[["url", value]] << [id, type]
    end
  end

  def lookup(namespace, value)
    case namespace
    when "ip"
      ip = begin
        IPAddr.new(value)
      rescue IPAddr::Error
        return []
      end
      @exact[["ip", ip.to_s]] + @ranges.select { |net, _, _| net.family == ip.family && net.include?(ip) }.map { |_, id, t| [id, t] }
    when "domain"
      labels = domain(value).split(".")
      labels.each_index.flat_map { |i| @exact[["domain", labels[i..-1].join(".")]] }
    when *HASHES then @exact[[namespace, value.downcase]]
    else @exact[[namespace, value]]
    end
  end

  def domain(value)
    value.downcase.chomp(".")
  end
end
