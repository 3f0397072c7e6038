# Image for docker-compose.yml (not exercised in CI).
FROM node:20-bookworm
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
RUN npx tsc -p tsconfig.json
EXPOSE 8080
CMD ["node", "dist/main.js"]
