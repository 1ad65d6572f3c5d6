export function ReviewPage() {
  return <p>Review</p>;
}
