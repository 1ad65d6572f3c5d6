export function JobPage({ id }: { id: string }) {
  return <p>Job {id}</p>;
}
