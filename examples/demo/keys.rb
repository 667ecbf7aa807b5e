# encoding: utf-8
# Shows which memcached key each indicator-bearing field of sample Sysmon
# events maps to, computed by the real native library through FFI.
$LOAD_PATH.unshift(File.expand_path("../../logstash-filter-misp/lib", __dir__))
require "json"
require "logstash/filters/misp_enrich/native"

Native = MispEnrich::Native
FIELDS = {
  %w[destination ip] => "ip", %w[source ip] => "ip", %w[dns resolved_ip] => "ip",
  %w[dns question name] => "domain", %w[file hash sha256] => "sha256",
  %w[process hash sha256] => "sha256", %w[file pe imphash] => "imphash"
}.freeze

puts "native library #{Native.version} (#{Native.library_path})"
seen = {}
ARGV.each do |path|
  File.foreach(path) do |line|
    event = JSON.parse(line)
    FIELDS.each do |field, ns|
      Array(event.dig(*field)).each do |value|
        status, key = Native.key(ns, value.to_s)
        seen[[field.join("."), value]] ||= (status == :ok ? key : "(#{status}: #{key})")
      end
    end
  end
end
seen.first(25).each { |(field, value), key| puts format("%-22s %-45s -> %s", field, value.to_s[0, 45], key) }
puts "#{seen.size} distinct field values mapped"
