{{> _header}}
{{> _lib}}
{{#base.address}}
IFACE={{base.interface}}
ADDRESS={{base.address}}
PREFIX={{network.prefix}}
{{> _netplan}}
{{/base.address}}
{{^base.address}}
# lab.json gives the base no static address: it keeps DHCP.
result network.apply dhcp
{{/base.address}}
