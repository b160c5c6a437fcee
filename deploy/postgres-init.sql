-- One database per service: no service reads another's tables.
CREATE DATABASE edt_auth OWNER edt;
CREATE DATABASE edt_declarations OWNER edt;
CREATE DATABASE edt_residents OWNER edt;
CREATE DATABASE edt_notices OWNER edt;
CREATE DATABASE edt_audit OWNER edt;
