# The seed's process_ioc.rb, for the `ruby { path => ... }` blocks of
# 02-filter.conf, written from the guide's description of it: the memcached
# filter put a value `event_id#misp_type,event_id#misp_type,...` in
# [enrich][tmp]; each entry appends its event id to [misp][event_id] and its
# type to [misp][type] (arrays, created by the first entry).
def filter(event)
  event.get("[enrich][tmp]").to_s.split(",").each do |entry|
    event_id, misp_type = entry.split("#")
    if event.get("[misp][event_id]")
      event.set("[misp][event_id]", event.get("[misp][event_id]") + [event_id])
      event.set("[misp][type]", event.get("[misp][type]") + [misp_type])
    else
      event.set("[misp][event_id]", [event_id])
      event.set("[misp][type]", [misp_type])
    end
  end
  [event]
end
