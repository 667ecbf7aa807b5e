# encoding: utf-8
# Which namespace each configured field is looked up in. `fields` is either a
# list of field references, whose namespace is inferred from well-known ECS
# field names, or a hash from field reference to namespace. Resolved once, in
# `register`; the per-batch path only reads the result.

module MispEnrich
  class FieldMap
    # Exact ECS names (dotted form), checked first.
    EXACT = {
      "dns.resolved_ip" => "ip",
      "related.ip" => "ip",
      "dns.question.name" => "domain",
      "dns.question.registered_domain" => "domain",
      "related.hosts" => "domain",
      "tls.client.server_name" => "domain",
      "url.full" => "url",
      "url.original" => "url",
      "user_agent.original" => "user-agent",
      "registry.path" => "regkey",
      "winlog.event_data.Hashes" => "hashes",
      "tls.client.ja3" => "ja3",
      "tls.server.hash.md5" => "x509-md5",
      "tls.server.hash.sha1" => "x509-sha1",
      "tls.server.hash.sha256" => "x509-sha256",
      "tls.client.hash.md5" => "x509-md5",
      "tls.client.hash.sha1" => "x509-sha1",
      "tls.client.hash.sha256" => "x509-sha256"
    }.freeze

    # Patterns over the dotted name, checked in order after EXACT.
    PATTERNS = [
      [/(\A|\.)ip\z/, "ip"],
      [/(\A|\.)domain\z/, "domain"],
      [/(\A|\.)hash\.(md5|sha1|sha224|sha256|sha384|sha512|ssdeep|tlsh)\z/, nil],
      [/(\A|\.)pe\.imphash\z/, "imphash"],
      [/(\A|\.)email(\.(from|to|cc|bcc|reply_to|sender))?\.address\z/, "email"],
      [/(\A|\.)user\.email\z/, "email"]
    ].freeze

    Field = Struct.new(:reference, :name, :namespace)

    attr_reader :fields, :warnings

    # `config` is the `fields` option: an Array of references, a Hash of
    # reference => namespace, or a single String; `namespaces` the names the
    # native library knows (Native.namespaces: rust/core's namespaces plus
    # `hashes`, Sysmon's Hashes string). Raises LogStash::ConfigurationError
    # with the fix in the message.
    def initialize(config, namespaces)
      @namespaces = namespaces
      @warnings = []
      pairs = case config
              when Hash then config.to_a
              when Array then config.map { |f| [f, nil] }
              when String then [[config, nil]]
              else raise_config("`fields` must be a list of field references or a hash of field reference => namespace")
              end
      raise_config("`fields` is empty: name at least one field, e.g. fields => [\"[destination][ip]\"]") if pairs.empty?
      @fields = pairs.map { |reference, namespace| resolve(reference.to_s, namespace) }
      duplicates = @fields.group_by(&:reference).select { |_, v| v.size > 1 }.keys
      raise_config("`fields` names #{duplicates.join(', ')} more than once") unless duplicates.empty?
      @fields.freeze
    end

    # The dotted ECS name of a field reference: `[dns][question][name]` →
    # `dns.question.name`; a bare `name` stays as it is.
    def self.dotted(reference)
      return reference unless reference.start_with?("[")
      reference.scan(/\[([^\[\]]+)\]/).flatten.join(".")
    end

    # The namespace inferred for a dotted ECS name, or nil.
    def self.infer(name)
      return EXACT[name] if EXACT.key?(name)
      PATTERNS.each do |pattern, namespace|
        match = pattern.match(name)
        return namespace || match[2] if match
      end
      nil
    end

    private

    def resolve(reference, namespace)
      raise_config("`fields` contains an empty field reference") if reference.strip.empty?
      unless reference =~ /\A(\[[^\[\]]+\])+\z/ || reference !~ /[\[\]]/
        raise_config("`#{reference}` is not a valid field reference; nested fields are written like [destination][ip]")
      end
      name = self.class.dotted(reference)
      if !reference.start_with?("[") && reference.include?(".")
        @warnings << "`#{reference}` refers to a top-level field literally named #{reference.inspect}; " \
                     "the nested ECS field is written [#{reference.split('.').join('][')}]"
      end
      namespace = namespace.to_s.strip
      namespace = self.class.infer(name).to_s if namespace.empty?
      if namespace.empty?
        raise_config("cannot tell which kind of indicator `#{reference}` holds; give its namespace: " \
                     "fields => { \"#{reference}\" => \"<namespace>\" } (one of: #{@namespaces.join(', ')})")
      end
      unless @namespaces.include?(namespace)
        raise_config("unknown namespace `#{namespace}` for `#{reference}` (one of: #{@namespaces.join(', ')})")
      end
      Field.new(reference, name, namespace).freeze
    end

    def raise_config(message)
      raise LogStash::ConfigurationError, "misp_enrich: #{message}"
    end
  end
end
