# stomp-cluster — the two set-up commands of the README:
#   make start   install, build and start one node (single process, no Redis/Kafka) with the chat demo
#   make test    install what the tests need (system packages, npm packages, Kafka jars) and run every test
#                (starts its own Redis servers and Kafka broker)

.PHONY: install build start setup test bench clean kafka-start kafka-stop

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

install: node_modules/.package-lock.json

build: install
	npx tsc -p tsconfig.json

start: build
	STOMP_DEMO=1 node dist/main.js

# System packages (apt-get, as root) and the Kafka jars: scripts/setup.sh.
setup:
	scripts/setup.sh

test: setup install
	npm test

bench: build
	node bench/run.js

kafka-start:
	scripts/kafka/start.sh

kafka-stop:
	scripts/kafka/stop.sh

clean:
	rm -rf dist .tap
