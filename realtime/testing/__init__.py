"""What tests, the chaos suite and the load tests share, as `django.test` and
`channels.testing` are for theirs: real servers on free ports of 127.0.0.1
(daphne through `realtime serve`, redis-server, PostgreSQL), the HTTP API as
a test calls it, recorded clients, writer and flooder processes."""
